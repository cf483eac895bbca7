package store

import (
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
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
)

// Authenticate checks a login name and password. The login is a domain
// (any case, a leading www. dropped), an address, or "admin". It does the
// same work for unknown logins as for wrong passwords. It does not check
// the per-service switches: see Principal.CheckSMTP and CheckWebmail.
func (s *Store) Authenticate(login, password string) (Principal, error) {
	login = strings.TrimSpace(login)
	var p Principal
	var hash string
	switch {
	case strings.EqualFold(login, AdminLogin):
		p = Principal{Kind: KindAdmin}
		s.db.View(func(tx *bolt.Tx) error {
			hash = string(tx.Bucket(bucketMeta).Get([]byte("admin")))
			return nil
		})
	case strings.Contains(login, "@"):
		addr, err := NormalizeAddress(login)
		if err == nil {
			var u User
			s.db.View(func(tx *bolt.Tx) error {
				if getJSON(tx.Bucket(bucketUsers), addr, &u) {
					hash = u.PasswordHash
				}
				return nil
			})
			p = Principal{Kind: KindUser, Domain: DomainOf(addr), Address: addr}
		}
	default:
		d, err := DomainLogin(login)
		if err == nil {
			var dom Domain
			s.db.View(func(tx *bolt.Tx) error {
				if getJSON(tx.Bucket(bucketDomains), d, &dom) {
					hash = dom.PasswordHash
				}
				return nil
			})
			p = Principal{Kind: KindDomain, Domain: d}
		}
	}
	// An unknown login has hash "" and still pays a full argon2 run.
	if !s.verify(p.Login(), hash, password) || hash == "" || p.Kind == KindNone {
		return Principal{}, ErrBadCredentials
	}
	return p, nil
}

// CheckSMTP returns ErrSMTPDisabled unless the principal's domain has the
// Authenticated SMTP switch on.
func (s *Store) CheckSMTP(p Principal) error {
	d, err := s.GetDomain(p.Domain)
	if err != nil || !d.SMTP {
		return fmt.Errorf("%w (%s)", ErrSMTPDisabled, p.Domain)
	}
	return nil
}

// CheckWebmail returns ErrWebmailOff unless the domain's Webmail switch is on.
func (s *Store) CheckWebmail(p Principal) error {
	d, err := s.GetDomain(p.Domain)
	if err != nil || !d.Webmail {
		return fmt.Errorf("%w (%s)", ErrWebmailOff, p.Domain)
	}
	return nil
}
