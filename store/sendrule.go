package store

import (
	"fmt"
	"sort"
	"strings"

	"github.com/authsmtp/authsmtp/store/kv"
)

// The send rule, all of it in this file (DESIGN.md, "The rule at the heart
// of it"):
//
//   - a domain login may send as any address at exactly its domain;
//   - a user login may send as its own address, and as an alias of its own
//     domain whose send-as list names it (granted by an admin with
//     `alias add --send-as`), as long as no user holds the alias's address;
//   - every other login kind, and every address that does not parse (see
//     names.go), is refused.
//
// Grants never cross domains: an alias at doe.com can name only a user at
// doe.com (AddAlias refuses others, and a grant of another domain left in
// an older file is ignored here). An alias and a user never share an
// address (AddAlias and AddUser each refuse the other), and a grant whose
// alias address later belongs to a user grants nothing.

// MaySendAs reports whether p may use address as envelope sender or in a
// From:, Sender:, Resent-From: or Resent-Sender: header.
func (s *Store) MaySendAs(p Principal, address string) bool {
	local, domain, err := SplitAddress(address)
	if err != nil || local == "" {
		return false
	}
	addr := local + "@" + domain
	switch p.Kind {
	case KindDomain:
		return p.Domain != "" && domain == p.Domain
	case KindUser:
		if p.Address == "" {
			return false
		}
		if addr == p.Address {
			return true
		}
		ok := false
		if domain == p.Domain && DomainOf(p.Address) == domain {
			s.db.View(func(tx kv.Tx) error {
				ok = aliasGrants(tx, addr, p.Address)
				return nil
			})
		}
		return ok
	}
	return false
}

// aliasGrants reports whether the alias at addr lets user send as it:
// the alias exists, lists user, and no user holds addr.
func aliasGrants(tx kv.Tx, addr, user string) bool {
	b := tx.Bucket(bucketAliases)
	var a Alias
	if b == nil || !getJSON(b, addr, &a) || tx.Bucket(bucketUsers).Get([]byte(addr)) != nil {
		return false
	}
	return DomainOf(user) == DomainOf(addr) && contains(a.SendAs, user)
}

// SendAsAddresses lists the addresses a user login may send as, its own
// first, then its granted aliases in order: webmail's From choices, so
// webmail offers exactly what MaySendAs allows. A domain login may send as
// any address at its domain and gets nil; other kinds get nil.
func (s *Store) SendAsAddresses(p Principal) []string {
	if p.Kind != KindUser || p.Address == "" {
		return nil
	}
	out := []string{p.Address}
	suffix := "@" + DomainOf(p.Address)
	s.db.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketAliases)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			if strings.HasSuffix(string(k), suffix) && aliasGrants(tx, string(k), p.Address) {
				out = append(out, string(k))
			}
			return nil
		})
	})
	sort.Strings(out[1:])
	return out
}

// SendAsError builds the reply text for a refused sender, the same for
// SMTP and webmail: what was refused, why when the address itself is
// malformed, and what the login may send as.
func SendAsError(p Principal, address string) string {
	if address == "" {
		address = "<>"
	} else if why := AddressProblem(address); why != "" {
		return fmt.Sprintf("%s may not send as %s: %s; login %s may send as %s", p.Login(), address, why, p.Login(), p.Scope())
	}
	return fmt.Sprintf("%s may not send as %s: login %s may send as %s", p.Login(), address, p.Login(), p.Scope())
}
