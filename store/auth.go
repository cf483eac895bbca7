package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/authsmtp/authsmtp/store/kv"
)

// AdminLogin is the login name of the admin panel.
const AdminLogin = "admin"

// Kind says what a login is.
type Kind int

const (
	KindNone   Kind = iota
	KindDomain      // a domain login: may send as anyone at Domain
	KindUser        // a user login: may send only as Address, reads its mailbox
	KindAdmin       // the admin panel login
)

func (k Kind) String() string {
	switch k {
	case KindDomain:
		return "domain"
	case KindUser:
		return "user"
	case KindAdmin:
		return "admin"
	}
	return "none"
}

// Principal is who a successful login is.
type Principal struct {
	Kind    Kind
	Domain  string // canonical domain (domain and user logins)
	Address string // canonical address (user logins only)

	// since is the revocation generation when the password was checked
	// (revoke.go); 0 for a Principal that did not come from a login.
	since uint64
	// cred fingerprints the stored password hash that was checked, so
	// after a gap in the feed from the other nodes the session can be
	// checked against the database (revalidate.go); "" when not from a
	// login.
	cred string
}

// Login is the canonical login name: the domain, the address or "admin".
func (p Principal) Login() string {
	switch p.Kind {
	case KindDomain:
		return p.Domain
	case KindUser:
		return p.Address
	case KindAdmin:
		return AdminLogin
	}
	return ""
}

// Scope says in words what the principal may send as.
func (p Principal) Scope() string {
	switch p.Kind {
	case KindDomain:
		return "any address @" + p.Domain
	case KindUser:
		return "only " + p.Address
	}
	return "nothing"
}

// Authentication errors. ErrBadCredentials never says which part was wrong.
var (
	ErrBadCredentials = errors.New("invalid login or password")
	ErrSMTPDisabled   = errors.New("authenticated SMTP is not enabled for this domain")
	ErrWebmailOff     = errors.New("webmail is not enabled for this domain")
	ErrNoMailbox      = errors.New("a domain login can send mail but has no mailbox: log in with an email address")
	// ErrUnavailable: the database did not answer (a shared database
	// restarting); the client should try again, nothing was counted.
	ErrUnavailable = errors.New("the database is not answering: try again later")
)

// Authenticate checks a login name and password. The login is a domain
// (any case, a leading www. dropped), an address, or "admin", in any
// spelling CanonicalLogin accepts. It does the same work for unknown
// logins as for wrong passwords. It does not check the per-service
// switches or the throttle: Login does.
func (s *Store) Authenticate(login, password string) (Principal, error) {
	return s.authenticate(context.Background(), checkFrom{}, login, password)
}

func (s *Store) authenticate(ctx context.Context, from checkFrom, login, password string) (Principal, error) {
	// The generation is taken before the hash is read: a change that
	// commits after this point revokes the session this login opens.
	p := Principal{since: s.revoked.current()}
	canon, kind, ok := CanonicalLogin(login)
	var hash string
	if ok {
		switch kind {
		case KindAdmin:
			p.Kind = KindAdmin
		case KindUser:
			p.Kind, p.Domain, p.Address = KindUser, DomainOf(canon), canon
		case KindDomain:
			p.Kind, p.Domain = KindDomain, canon
		}
		err := s.db.View(func(tx kv.Tx) error {
			hash = storedHashTx(s.records, tx, p)
			return nil
		})
		if err != nil {
			// Not a wrong password: the database did not answer.
			return Principal{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	// An unknown login has hash "" and still pays a full argon2 run.
	good, err := s.verify(ctx, from, canon, hash, password)
	if err != nil {
		return Principal{}, err
	}
	if !good || hash == "" || p.Kind == KindNone {
		return Principal{}, ErrBadCredentials
	}
	p.cred = credPrint(hash)
	return p, nil
}

// CheckSMTP returns ErrSMTPDisabled unless the principal's domain has the
// Authenticated SMTP switch on.
func (s *Store) CheckSMTP(p Principal) error {
	d, ok := s.exactDomain(p.Domain)
	if !ok || !d.SMTP {
		return fmt.Errorf("%w (%s)", ErrSMTPDisabled, p.Domain)
	}
	return nil
}

// CheckWebmail returns ErrWebmailOff unless the domain's Webmail switch is on.
func (s *Store) CheckWebmail(p Principal) error {
	d, ok := s.exactDomain(p.Domain)
	if !ok || !d.Webmail {
		return fmt.Errorf("%w (%s)", ErrWebmailOff, p.Domain)
	}
	return nil
}

// exactDomain reads the domain stored under exactly name (a principal's
// canonical domain): the switches of u@www.shop.test are www.shop.test's,
// never shop.test's.
func (s *Store) exactDomain(name string) (Domain, bool) {
	var d Domain
	ok := false
	s.db.View(func(tx kv.Tx) error {
		ok = getJSON(tx.Bucket(bucketDomains), name, &d)
		return nil
	})
	return d, ok
}
