package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/listen"
	"github.com/authsmtp/authsmtp/internal/metrics"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
	"github.com/authsmtp/authsmtp/store"
)

// backend makes a session per EHLO. go-smtp ends the session at STARTTLS
// (Logout) and makes a new one at the next EHLO, so a session never
// carries login state from before TLS.
type backend struct {
	srv         *Server
	implicitTLS bool
}

var (
	_ gosmtp.Backend     = (*backend)(nil)
	_ gosmtp.AuthSession = (*session)(nil)
)

func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	s := &session{srv: b.srv, conn: c, implicitTLS: b.implicitTLS}
	if tc := tracked(c.Conn()); tc != nil {
		s.cid, s.ip = tc.id, tc.ip
	} else {
		s.ip = listen.HostOf(c.Conn().RemoteAddr())
	}
	s.ctx, s.cancel = context.WithCancel(b.srv.ctx)
	s.log = b.srv.log.With("cid", s.cid)
	return s, nil
}

// session is one SMTP session between EHLO and STARTTLS/QUIT/close.
type session struct {
	srv         *Server
	conn        *gosmtp.Conn
	implicitTLS bool
	cid, ip     string
	log         *slog.Logger
	ctx         context.Context
	cancel      context.CancelFunc

	who  *store.Principal // nil until AUTH succeeds
	from string
	sub  *Submission // from MAIL to the end of the transaction
	size int64       // SIZE= from MAIL, 0 if not given
}

func (s *session) tlsState() (tls.ConnectionState, bool) {
	return s.conn.TLSConnectionState()
}

var (
	errNeedTLS  = smtpErr(530, gosmtp.EnhancedCode{5, 7, 0}, "Must issue a STARTTLS command first")
	errNeedAuth = smtpErr(530, gosmtp.EnhancedCode{5, 7, 0}, "Authentication required")
	errAuthFail = smtpErr(535, gosmtp.EnhancedCode{5, 7, 8}, "Authentication failed: invalid login or password")
	errThrottle = smtpErr(454, gosmtp.EnhancedCode{4, 7, 0}, "Too many failed logins from your address or for this login: try again later")
	errInternal = smtpErr(421, gosmtp.EnhancedCode{4, 3, 0}, "Internal server error, try again later")
	errRevoked  = smtpErr(421, gosmtp.EnhancedCode{4, 7, 0}, "Login no longer valid (password changed, account removed or Authenticated SMTP turned off): closing, log in again")
)

// revoked ends a session whose login was revoked after AUTH: the command
// is refused with 421 and the connection closes once that reply is out.
func (s *session) revoked() error {
	if s.who == nil || !s.srv.st.SMTPRevoked(*s.who) {
		return nil
	}
	s.log.Warn("smtp session ended: login revoked", "login", s.who.Login())
	if tc := tracked(s.conn.Conn()); tc != nil {
		tc.closeAfterWrite.Store(true)
	}
	return errRevoked
}

// AuthMechanisms offers PLAIN and LOGIN only once TLS is up.
func (s *session) AuthMechanisms() []string {
	if _, ok := s.tlsState(); !ok {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if _, ok := s.tlsState(); !ok {
		return nil, errNeedTLS
	}
	if s.sub != nil {
		return nil, smtpErr(503, gosmtp.EnhancedCode{5, 5, 1}, "AUTH not allowed during a mail transaction")
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return &plainServer{auth: s.authenticate}, nil
	case sasl.Login:
		return &loginServer{auth: s.authenticate}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

// authenticate is the one login path: the store's Login holds the
// throttle and the failure delay; then the domain's SMTP switch.
func (s *session) authenticate(login, password string) (err error) {
	defer func() { s.srv.cfg.Metrics.Auth(metrics.ProtoSubmission, err == nil) }()
	if s.who != nil {
		return smtpErr(503, gosmtp.EnhancedCode{5, 5, 1}, "Already authenticated")
	}
	logName := store.SanitizeLog(login)
	p, err := s.srv.st.Login(s.ctx, store.ProtoSMTP, s.ip, login, password)
	switch {
	case errors.Is(err, store.ErrThrottled):
		s.log.Warn("smtp auth refused: throttled", "ip", s.ip, "login", logName)
		return errThrottle
	case errors.Is(err, store.ErrUnavailable):
		// RFC 4954: 454 4.7.0 is a temporary authentication failure.
		return smtpErr(454, gosmtp.EnhancedCode{4, 7, 0}, "Temporary authentication failure: try again later")
	case errors.Is(err, store.ErrSMTPDisabled):
		// Said whatever the password: the store checks the switch first.
		d := store.DomainOf(login)
		if d == "" {
			d, _ = store.DomainLogin(login)
		}
		s.log.Warn("smtp auth refused: Authenticated SMTP off", "ip", s.ip, "login", logName)
		return smtpErr(535, gosmtp.EnhancedCode{5, 7, 8}, "Authenticated SMTP is not enabled for the domain %s: the administrator can turn it on", d)
	case err != nil:
		s.log.Warn("smtp auth failed", "ip", s.ip, "login", logName)
		return errAuthFail
	}
	if p.Kind != store.KindDomain && p.Kind != store.KindUser {
		// The admin login is for the web panel only; say nothing more.
		s.log.Warn("smtp auth failed: not a sending login", "ip", s.ip, "login", logName)
		return errAuthFail
	}
	s.who = &p
	s.log.Info("smtp auth ok", "ip", s.ip, "login", p.Login(), "kind", p.Kind.String())
	return nil
}

func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	if _, ok := s.tlsState(); !ok {
		return errNeedTLS
	}
	if s.who == nil {
		return errNeedAuth
	}
	if err := s.revoked(); err != nil {
		return err
	}
	var size int64
	if opts != nil {
		size = opts.Size
	}
	if size > 0 && !s.srv.cfg.InFlight.Fits(size) {
		s.log.Warn("smtp message refused: in-flight budget", "login", s.who.Login(), "size", size)
		s.srv.refused(smtpd.ErrBusyReply)
		return smtpd.ErrBusyReply
	}
	sub, err := s.srv.pipe.Begin(*s.who, from, size)
	if err != nil {
		s.log.Info("smtp sender refused", "login", s.who.Login(), "from", store.SanitizeLog(from))
		s.srv.refused(err)
		return err
	}
	if s.sub != nil {
		s.sub.Abort()
	}
	s.from, s.sub, s.size = from, sub, size
	s.setBusy(true) // in a transaction: Shutdown lets it finish
	return nil
}

func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if s.who == nil {
		return errNeedAuth
	}
	if err := s.revoked(); err != nil {
		return err
	}
	if s.sub == nil {
		return smtpErr(503, gosmtp.EnhancedCode{5, 5, 1}, "MAIL first")
	}
	if err := s.sub.AddRecipient(to); err != nil {
		s.log.Info("smtp recipient refused", "login", s.who.Login(), "rcpt", store.SanitizeLog(to), "err", err)
		if se, ok := err.(*gosmtp.SMTPError); ok && se.EnhancedCode == (gosmtp.EnhancedCode{5, 2, 2}) {
			s.srv.cfg.Metrics.Refused(metrics.ProtoSubmission, metrics.ReasonQuota)
		} else {
			s.srv.refused(err)
		}
		return err
	}
	return nil
}

func (s *session) Data(r io.Reader) (err error) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("smtp panic in DATA", "panic", v, "stack", string(debug.Stack()))
			err = errInternal
		}
	}()
	if s.who == nil || s.sub == nil || len(s.sub.d.Recipients()) == 0 {
		return smtpErr(503, gosmtp.EnhancedCode{5, 5, 1}, "need MAIL and RCPT first")
	}
	sub, rcpts := s.sub, s.sub.n
	s.sub = nil // the transaction ends here, whatever happens
	s.conn.Conn().SetReadDeadline(time.Now().Add(s.srv.cfg.DataTimeout))
	hint := s.size
	if hint > s.srv.cfg.MaxSize {
		hint = 0
	}
	data, err := smtpd.ReadData(r, smtpd.DataOptions{SizeHint: hint, Budget: s.srv.cfg.InFlight, SpoolDir: s.srv.cfg.SpoolDir})
	if err != nil {
		sub.Abort()
		err = s.dataReadError(err)
		s.srv.refused(err)
		return err
	}
	defer data.Release()
	if err := s.revoked(); err != nil {
		sub.Abort()
		return err
	}
	ctx := WithTrace(s.ctx, s.trace())
	acc, err := sub.Commit(ctx, data)
	if err != nil {
		s.log.Info("smtp message refused", "login", s.who.Login(), "from", s.from, "rcpts", rcpts, "err", err)
		s.srv.refused(err)
		return err
	}
	s.srv.cfg.Metrics.Accepted(metrics.ProtoSubmission)
	uids := make([]string, len(acc.Local))
	for i, m := range acc.Local {
		uids[i] = fmt.Sprint(m.UID)
	}
	s.log.Info("smtp message accepted", "login", s.who.Login(), "from", s.from, "rcpts", rcpts,
		"size", data.Len(), "queue_id", acc.QueueID, "uids", strings.Join(uids, ","))
	id := acc.QueueID
	if id == "" && len(acc.Local) > 0 {
		id = fmt.Sprintf("local uid %d", acc.Local[0].UID)
	}
	if id == "" {
		return errDiscarded // a milter discarded it: nothing was stored
	}
	// A 250 reply that names what was stored.
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "OK: accepted as " + id}
}

// dataReadError maps a failure reading DATA to a reply; nothing was stored.
func (s *session) dataReadError(err error) error {
	var se *gosmtp.SMTPError
	switch {
	case errors.Is(err, smtpd.ErrBusy):
		s.log.Warn("smtp message refused: in-flight budget", "login", s.who.Login())
		return smtpd.ErrBusyReply
	case errors.As(err, &se):
		s.log.Info("smtp message refused", "login", s.who.Login(), "err", se.Message)
		return se // over SIZE: 552 5.3.4 after the real end of data
	case errors.Is(err, gosmtp.ErrTooLongLine):
		s.log.Info("smtp message refused: line too long", "login", s.who.Login())
		return smtpErr(500, gosmtp.EnhancedCode{5, 5, 2}, "line too long (limit %d bytes)", s.srv.cfg.MaxLine)
	}
	s.log.Info("smtp message aborted", "login", s.who.Login(), "err", err)
	return smtpErr(451, gosmtp.EnhancedCode{4, 3, 0}, "message data not received completely")
}

func (s *session) trace() Trace {
	t := Trace{Helo: s.conn.Hostname(), IP: s.ip, Protocol: "ESMTPSA", ID: s.cid, Service: "submission"}
	if st, ok := s.tlsState(); ok {
		t.TLS = tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
	}
	return t
}

func (s *session) Reset() {
	if s.sub != nil {
		s.sub.Abort()
	}
	s.from, s.sub, s.size = "", nil, 0
	s.setBusy(false)
}

func (s *session) setBusy(b bool) {
	if tc := tracked(s.conn.Conn()); tc != nil {
		tc.busy.Store(b)
	}
}

func (s *session) Logout() error {
	s.setBusy(false)
	s.cancel()
	return nil
}
