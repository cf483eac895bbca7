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

// Email rules: aliases (bucket "aliases": address → Alias), a catch-all
// per domain (Domain.CatchAll), forwarding and vacation per user
// (User.Forward, User.ForwardKeep, User.Vacation), and the vacation
// reply log (bucket "vacation": user NUL sender → time of the last reply).
// Route (route.go) applies them.
var (
	bucketAliases  = []byte("aliases")
	bucketVacation = []byte("vacation")
)

// ErrAliasLoop is an address whose rules lead only back to themselves.
var ErrAliasLoop = errors.New("mail loop: the address's aliases and forwards lead back to themselves")

// Alias is one hosted address that delivers to other addresses.
type Alias struct {
	Address string    `json:"address"`
	Targets []string  `json:"targets"`           // hosted users, other aliases or external addresses
	SendAs  []string  `json:"send_as,omitempty"` // user logins an admin allowed to send as the alias
	Created time.Time `json:"created"`
}

// registerMailflowHooks joins the mail-flow parts of the store to account
// changes: DKIM keys for new domains, and clean-up of aliases and rule state when domains and users go.
func (s *Store) registerMailflowHooks() {
	s.registerDKIMHooks()
	s.domainRemoveHooks = append(s.domainRemoveHooks, func(tx kv.Tx, domain string) error {
		b := tx.Bucket(bucketAliases)
		if b == nil {
			return nil
		}
		var del [][]byte
		b.ForEach(func(k, _ []byte) error {
			if strings.HasSuffix(string(k), "@"+domain) {
				del = append(del, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range del {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	s.userRemoveHooks = append(s.userRemoveHooks, func(tx kv.Tx, address string) error {
		// A removed user loses the send-as rights granted to it; a later
		// user of the same name must be granted them again.
		b := tx.Bucket(bucketAliases)
		if b == nil {
			return nil
		}
		type kv struct {
			k string
			a Alias
		}
		var upd []kv
		b.ForEach(func(k, v []byte) error {
			var a Alias
			if json.Unmarshal(v, &a) == nil && contains(a.SendAs, address) {
				a.SendAs = remove(a.SendAs, address)
				upd = append(upd, kv{string(k), a})
			}
			return nil
		})
		for _, u := range upd {
			if err := putJSON(b, u.k, u.a); err != nil {
				return err
			}
		}
		return nil
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func remove(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// AddAlias creates or replaces an alias of a hosted domain. Targets may be
// hosted users, other aliases or external addresses; sendAs, if set, must
// be a user of the alias's own domain, allowed to send as the alias (see
// sendrule.go).
func (s *Store) AddAlias(address string, targets []string, sendAs string) (Alias, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return Alias{}, err
	}
	if len(targets) == 0 {
		return Alias{}, errors.New("an alias needs at least one target")
	}
	a := Alias{Address: addr, Created: time.Now().UTC()}
	for _, t := range targets {
		n, err := NormalizeAddress(t)
		if err != nil {
			return Alias{}, fmt.Errorf("target: %w", err)
		}
		if n == addr {
			return Alias{}, fmt.Errorf("%w: %s → %s", ErrAliasLoop, addr, n)
		}
		if !contains(a.Targets, n) {
			a.Targets = append(a.Targets, n)
		}
	}
	if sendAs != "" {
		u, err := NormalizeAddress(sendAs)
		if err != nil {
			return Alias{}, fmt.Errorf("--send-as: %w", err)
		}
		if DomainOf(u) != DomainOf(addr) {
			return Alias{}, fmt.Errorf("--send-as: %s is not a user of %s: only a user of the alias's own domain may send as it", u, DomainOf(addr))
		}
		a.SendAs = []string{u}
	}
	err = s.db.Update(func(tx kv.Tx) error {
		if tx.Bucket(bucketDomains).Get([]byte(DomainOf(addr))) == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchDomain, DomainOf(addr))
		}
		if tx.Bucket(bucketUsers).Get([]byte(addr)) != nil {
			return fmt.Errorf("%s is a user: an alias cannot have a user's address", addr)
		}
		for _, u := range a.SendAs {
			if tx.Bucket(bucketUsers).Get([]byte(u)) == nil {
				return fmt.Errorf("--send-as: user %s %w", u, ErrNotFound)
			}
		}
		b, err := tx.CreateBucketIfNotExists(bucketAliases)
		if err != nil {
			return err
		}
		return putJSON(b, addr, a)
	})
	return a, err
}

// RemoveAlias deletes an alias.
func (s *Store) RemoveAlias(address string) error {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketAliases)
		if b == nil || b.Get([]byte(addr)) == nil {
			return fmt.Errorf("alias %s %w", addr, ErrNotFound)
		}
		return b.Delete([]byte(addr))
	})
}

// ListAliases returns the aliases of one domain, or all when domain is "".
func (s *Store) ListAliases(domain string) ([]Alias, error) {
	suffix := ""
	if domain != "" {
		d, err := CanonicalDomain(domain)
		if err != nil {
			return nil, err
		}
		suffix = "@" + d
	}
	var out []Alias
	err := s.db.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketAliases)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if !strings.HasSuffix(string(k), suffix) {
				return nil
			}
			var a Alias
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("reading alias %s: %w", k, err)
			}
			out = append(out, a)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out, err
}

// SetCatchAll makes user receive mail for unknown local parts of domain;
// user "" turns it off. The user must belong to the domain.
func (s *Store) SetCatchAll(domain, user string) error {
	u := ""
	if user != "" {
		var err error
		if u, err = NormalizeAddress(user); err != nil {
			return err
		}
		if _, err := s.GetUser(u); err != nil {
			return err
		}
	}
	return s.UpdateDomain(domain, func(d *Domain) error {
		if u != "" && DomainOf(u) != d.Name {
			return fmt.Errorf("the catch-all user %s must be in %s", u, d.Name)
		}
		d.CatchAll = u
		return nil
	})
}

// SetForward forwards a user's mail to target (keeping a copy when keep);
// target "" turns forwarding off.
func (s *Store) SetForward(address, target string, keep bool) error {
	t := ""
	if target != "" {
		var err error
		if t, err = NormalizeAddress(target); err != nil {
			return err
		}
	}
	return s.UpdateUser(address, func(u *User) error {
		if t == u.Address {
			return fmt.Errorf("%w: %s forwards to itself", ErrAliasLoop, t)
		}
		u.Forward, u.ForwardKeep = t, keep && t != ""
		return nil
	})
}

// SetVacation sets a user's auto-reply text; "" turns it off.
func (s *Store) SetVacation(address, text string) error {
	return s.UpdateUser(address, func(u *User) error {
		u.Vacation = text
		return nil
	})
}

// VacationDue reports whether user should auto-reply to sender now, and if
// so records the reply, so a sender gets at most one reply per window
// (RFC 3834 §3.1.1 asks for a few days).
func (s *Store) VacationDue(user, sender string, window time.Duration) bool {
	key := []byte(strings.ToLower(user) + "\x00" + strings.ToLower(sender))
	now := time.Now().UTC()
	due := false
	s.db.Update(func(tx kv.Tx) error {
		due = false // a retried run must not keep the lost run's answer
		b, err := tx.CreateBucketIfNotExists(bucketVacation)
		if err != nil {
			return err
		}
		if v := b.Get(key); v != nil {
			var last time.Time
			if last.UnmarshalText(v) == nil && now.Sub(last) < window {
				return nil
			}
		}
		due = true
		t, _ := now.MarshalText()
		return b.Put(key, t)
	})
	return due
}
