package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Errors for account management; CLI and web show them as they are.
var (
	ErrExists         = errors.New("already exists")
	ErrNotFound       = errors.New("not found")
	ErrNoSuchDomain   = errors.New("no such domain")
	ErrUnknownSwitch  = errors.New("unknown switch: use smtp or webmail")
	ErrDomainHasUsers = errors.New("the domain still has users")
)

// SendLimits caps what one login may send. Zero means "use the default".
type SendLimits struct {
	PerHour     int `json:"per_hour,omitempty"`
	PerDay      int `json:"per_day,omitempty"`
	RcptsPerDay int `json:"rcpts_per_day,omitempty"`
}

// Domain is a hosted domain.
type Domain struct {
	Name         string     `json:"name"`
	SMTP         bool       `json:"smtp"`    // Authenticated SMTP switch
	Webmail      bool       `json:"webmail"` // Webmail sending switch
	PasswordHash string     `json:"password_hash,omitempty"`
	Created      time.Time  `json:"created"`
	Limits       SendLimits `json:"limits,omitempty"`
	CatchAll     string     `json:"catch_all,omitempty"` // user address receiving unknown local parts
	// Postmaster receives postmaster@ and abuse@ (postmaster.go); "" is
	// not chosen yet.
	Postmaster string `json:"postmaster,omitempty"`
	// MTASTSMode is the published MTA-STS mode (mtasts.go); "" is not
	// chosen yet, served as testing.
	MTASTSMode string `json:"mta_sts_mode,omitempty"`
}

// User is a hosted mailbox user.
type User struct {
	Address      string     `json:"address"`
	PasswordHash string     `json:"password_hash"`
	DisplayName  string     `json:"display_name,omitempty"`
	Created      time.Time  `json:"created"`
	Quota        int64      `json:"quota,omitempty"` // bytes; 0 means the server default
	Limits       SendLimits `json:"limits,omitempty"`
	Forward      string     `json:"forward,omitempty"`
	ForwardKeep  bool       `json:"forward_keep,omitempty"`
	Vacation     string     `json:"vacation,omitempty"` // auto-reply text; empty is off
}

func getJSON(b kv.Bucket, key string, v any) bool {
	raw := b.Get([]byte(key))
	if raw == nil {
		return false
	}
	return json.Unmarshal(raw, v) == nil
}

func putJSON(b kv.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

// AddDomain adds a domain with both switches off and no password.
func (s *Store) AddDomain(name string) (Domain, error) {
	d, err := CanonicalDomain(name)
	if err != nil {
		return Domain{}, err
	}
	dom := Domain{Name: d, Created: time.Now().UTC()}
	err = s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketDomains)
		if b.Get([]byte(d)) != nil {
			return fmt.Errorf("domain %s %w", d, ErrExists)
		}
		for _, h := range s.domainAddHooks {
			if err := h(tx, &dom); err != nil {
				return err
			}
		}
		return putJSON(b, d, dom)
	})
	return dom, err
}

// GetDomain returns a domain by any spelling of its name.
func (s *Store) GetDomain(name string) (Domain, error) {
	d, err := CanonicalDomain(name)
	if err != nil {
		return Domain{}, err
	}
	var dom Domain
	err = s.db.View(func(tx kv.Tx) error {
		if !getRecord(s.records, tx.Bucket(bucketDomains), d, &dom) {
			return fmt.Errorf("%w: %s", ErrNoSuchDomain, d)
		}
		return nil
	})
	return dom, err
}

// IsHosted reports whether domain (canonical) is hosted here.
func (s *Store) IsHosted(domain string) bool {
	ok := false
	s.db.View(func(tx kv.Tx) error {
		ok = tx.Bucket(bucketDomains).Get([]byte(domain)) != nil
		return nil
	})
	return ok
}

// ListDomains returns every domain, sorted by name.
func (s *Store) ListDomains() ([]Domain, error) {
	var out []Domain
	err := s.db.View(func(tx kv.Tx) error {
		return tx.Bucket(bucketDomains).ForEach(func(k, v []byte) error {
			var d Domain
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("reading domain %s: %w", k, err)
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// UpdateDomain applies fn to the stored domain in one transaction.
func (s *Store) UpdateDomain(name string, fn func(*Domain) error) error {
	d, err := CanonicalDomain(name)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketDomains)
		var dom Domain
		if !getJSON(b, d, &dom) {
			return fmt.Errorf("%w: %s", ErrNoSuchDomain, d)
		}
		if err := fn(&dom); err != nil {
			return err
		}
		return putJSON(b, d, dom)
	})
}

// SetDomainSwitch turns the "smtp" or "webmail" switch on or off. Turning
// Authenticated SMTP off also ends the domain's open SMTP sessions.
func (s *Store) SetDomainSwitch(name, which string, on bool) error {
	err := s.UpdateDomain(name, func(d *Domain) error {
		switch which {
		case "smtp":
			d.SMTP = on
		case "webmail":
			d.Webmail = on
		default:
			return ErrUnknownSwitch
		}
		return nil
	})
	if err == nil && which == "smtp" && !on {
		d, _ := CanonicalDomain(name)
		s.revoked.revoke("smtp:" + d)
	}
	return err
}

// SetDomainPassword sets the domain login's password.
func (s *Store) SetDomainPassword(name, pw string) error {
	d, err := CanonicalDomain(name)
	if err != nil {
		return err
	}
	if err := CheckNewPassword(KindDomain, d, pw); err != nil {
		return err
	}
	h, err := HashPassword(pw)
	if err != nil {
		return err
	}
	err = s.UpdateDomain(name, func(d *Domain) error {
		d.PasswordHash = h
		return nil
	})
	if err == nil {
		s.credentialsChanged(d)
	}
	return err
}

// RemoveDomain removes a domain by any spelling of its name (see
// CanonicalDomain). It refuses while users remain, so no mailbox is
// dropped by accident.
func (s *Store) RemoveDomain(name string) error {
	d, err := CanonicalDomain(name)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketDomains)
		if b.Get([]byte(d)) == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchDomain, d)
		}
		c := tx.Bucket(bucketUsers).Cursor()
		suffix := "@" + d
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if strings.HasSuffix(string(k), suffix) {
				return fmt.Errorf("%w (%s): remove them first", ErrDomainHasUsers, k)
			}
		}
		if err := deleteHeldTx(tx, d); err != nil {
			return err
		}
		for _, h := range s.domainRemoveHooks {
			if err := h(tx, d); err != nil {
				return err
			}
		}
		return b.Delete([]byte(d))
	})
	if err == nil {
		s.credentialsChanged(d, "smtp:"+d)
	}
	return err
}

// AddUser creates a user in an existing domain, with its mailboxes.
func (s *Store) AddUser(address, pw string) (User, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return User{}, err
	}
	if err := CheckNewPassword(KindUser, addr, pw); err != nil {
		return User{}, err
	}
	h, err := HashPassword(pw)
	if err != nil {
		return User{}, err
	}
	u := User{Address: addr, PasswordHash: h, Created: time.Now().UTC()}
	err = s.db.Update(func(tx kv.Tx) error {
		if tx.Bucket(bucketDomains).Get([]byte(DomainOf(addr))) == nil {
			return fmt.Errorf("%w: %s (add it first with: authsmtp domain add %s)", ErrNoSuchDomain, DomainOf(addr), DomainOf(addr))
		}
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(addr)) != nil {
			return fmt.Errorf("user %s %w", addr, ErrExists)
		}
		// An address is a user or an alias, never both: a user created
		// at an alias's address would hand the alias's send-as grantees
		// the user's address (AddAlias refuses the reverse order).
		if ab := tx.Bucket(bucketAliases); ab != nil && ab.Get([]byte(addr)) != nil {
			return fmt.Errorf("%s is an alias: remove the alias first (authsmtp alias remove %s)", addr, addr)
		}
		if err := putJSON(b, addr, u); err != nil {
			return err
		}
		return ensureDefaultMailboxes(tx, addr)
	})
	return u, err
}

// GetUser returns a user by address.
func (s *Store) GetUser(address string) (User, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.db.View(func(tx kv.Tx) error {
		if !getRecord(s.records, tx.Bucket(bucketUsers), addr, &u) {
			return fmt.Errorf("user %s %w", addr, ErrNotFound)
		}
		return nil
	})
	return u, err
}

// UpdateUser applies fn to the stored user in one transaction.
func (s *Store) UpdateUser(address string, fn func(*User) error) error {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketUsers)
		var u User
		if !getJSON(b, addr, &u) {
			return fmt.Errorf("user %s %w", addr, ErrNotFound)
		}
		if err := fn(&u); err != nil {
			return err
		}
		return putJSON(b, addr, u)
	})
}

// SetUserPassword changes a user's password; cached logins and web
// sessions of that user end at once.
func (s *Store) SetUserPassword(address, pw string) error {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return err
	}
	if err := CheckNewPassword(KindUser, addr, pw); err != nil {
		return err
	}
	h, err := HashPassword(pw)
	if err != nil {
		return err
	}
	err = s.UpdateUser(address, func(u *User) error {
		u.PasswordHash = h
		return nil
	})
	if err == nil {
		a, _ := NormalizeAddress(address)
		s.credentialsChanged(a)
	}
	return err
}

// ListUsers returns the users of one domain, or of all when domain is "".
func (s *Store) ListUsers(domain string) ([]User, error) {
	suffix := ""
	if domain != "" {
		d, err := CanonicalDomain(domain)
		if err != nil {
			return nil, err
		}
		if !s.IsHosted(d) {
			return nil, fmt.Errorf("%w: %s", ErrNoSuchDomain, d)
		}
		suffix = "@" + d
	}
	var out []User
	err := s.db.View(func(tx kv.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			if !strings.HasSuffix(string(k), suffix) {
				return nil
			}
			var u User
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("reading user %s: %w", k, err)
			}
			out = append(out, u)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out, err
}

// RemoveUser deletes a user and all of their mail.
func (s *Store) RemoveUser(address string) error {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(addr)) == nil {
			return fmt.Errorf("user %s %w", addr, ErrNotFound)
		}
		if err := deleteAllMailboxes(tx, addr); err != nil {
			return err
		}
		for _, h := range s.userRemoveHooks {
			if err := h(tx, addr); err != nil {
				return err
			}
		}
		return b.Delete([]byte(addr))
	})
	if err == nil {
		s.credentialsChanged(addr)
	}
	return err
}

// SetAdminPassword sets the admin panel password.
func (s *Store) SetAdminPassword(pw string) error {
	if err := CheckNewPassword(KindAdmin, AdminLogin, pw); err != nil {
		return err
	}
	h, err := HashPassword(pw)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx kv.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("admin"), []byte(h))
	})
	if err == nil {
		s.credentialsChanged(AdminLogin)
	}
	return err
}

// HasAdminPassword reports whether an admin password was ever set.
func (s *Store) HasAdminPassword() bool {
	ok := false
	s.db.View(func(tx kv.Tx) error {
		ok = tx.Bucket(bucketMeta).Get([]byte("admin")) != nil
		return nil
	})
	return ok
}

// credentialsChanged drops cached password checks, ends web sessions of
// login and revokes its open SMTP and IMAP sessions (revoke.go), so the old
// password stops working everywhere at once.
func (s *Store) credentialsChanged(login string, alsoKeys ...string) {
	s.auth.forgetAll()
	s.revoked.revoke(append(alsoKeys, "login:"+login)...)
	for _, h := range s.credentialHooks {
		h(login)
	}
}
