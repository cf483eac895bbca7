package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The protocols Login serves. A login that a protocol cannot use is
// refused before its password is checked, so the answer (and the time it
// takes) is the same for a right and a wrong password: no oracle.
const (
	ProtoSMTP = "smtp" // domain and user logins whose domain has Authenticated SMTP on
	ProtoIMAP = "imap" // user logins only: only users have a mailbox
	ProtoWeb  = "web"  // every login
)

// loginWait bounds how long a login waits for a password-check slot;
// past it the client is told to try again later.
const loginWait = 30 * time.Second

// Login is the one login path of SMTP, IMAP and the web: it applies the
// throttle, refuses logins the protocol cannot use, checks the password in
// the bounded pool, waits the growing delay after a failure, and logs the
// outcome (never the password). protocol is ProtoSMTP, ProtoIMAP or
// ProtoWeb; ip is the remote address without port.
//
// Errors: ErrThrottled, ErrBadCredentials, ErrUnavailable (the database
// did not answer: temporary, not counted as a failure), and for SMTP
// ErrSMTPDisabled (whatever the password). The Principal is good for Revoked checks.
func (s *Store) Login(ctx context.Context, protocol, ip, login, password string) (Principal, error) {
	logName := sanitizeLog(login)
	blocked := func() error {
		if blocked, until := s.Throttle.Check(ip, login); blocked {
			s.log.Warn("login refused: throttled", "proto", protocol, "ip", ip, "login", logName, "until", until.Format(time.RFC3339))
			return ErrThrottled
		}
		return nil
	}
	if err := blocked(); err != nil {
		return Principal{}, err
	}
	p, err := Principal{}, s.refusedFor(protocol, login)
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, loginWait)
		from := checkFrom{ipKey: ThrottleIP(ip), failures: s.Throttle.Failures(ip), ready: blocked}
		p, err = s.authenticate(wctx, from, login, password)
		cancel()
	}
	switch {
	case errors.Is(err, ErrThrottled):
		return Principal{}, err
	case errors.Is(err, ErrUnavailable):
		s.log.Warn("login refused: the database is not answering", "proto", protocol, "ip", ip, "login", logName, "err", err)
		return Principal{}, err
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		s.log.Warn("login refused: no password-check slot in time", "proto", protocol, "ip", ip, "login", logName)
		return Principal{}, ErrThrottled
	case err != nil:
		delay := s.Throttle.Fail(protocol, ip, login)
		s.log.Warn("login failed", "proto", protocol, "ip", ip, "login", logName, "reason", err.Error())
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
			}
		}
		return Principal{}, err
	}
	s.Throttle.Succeed(ip, login)
	s.log.Info("login", "proto", protocol, "ip", ip, "login", p.Login(), "kind", p.Kind.String())
	return p, nil
}

// refusedFor says whether protocol refuses login whatever its password:
// IMAP takes only user logins; SMTP takes no admin login and no login of
// a domain whose Authenticated SMTP switch is off.
func (s *Store) refusedFor(protocol, login string) error {
	canon, kind, ok := CanonicalLogin(login)
	switch protocol {
	case ProtoIMAP:
		if ok && kind != KindUser {
			return ErrBadCredentials
		}
	case ProtoSMTP:
		switch {
		case ok && kind == KindAdmin:
			return ErrBadCredentials
		case ok:
			d := canon
			if kind == KindUser {
				d = canon[strings.LastIndexByte(canon, '@')+1:]
			}
			if dom, err := s.GetDomain(d); err == nil && !dom.SMTP {
				return fmt.Errorf("%w (%s)", ErrSMTPDisabled, d)
			}
		}
	}
	return nil
}
