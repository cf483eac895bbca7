package store

import (
	"fmt"
	"strings"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Older versions stored `domain add www.shop.test` as "www.shop.test",
// while every other command dropped the "www.": such a domain could be
// neither switched nor removed. AddDomain now stores CanonicalDomain; at
// Open, fixWWWDomains moves what an older file left:
//
//   - a www. domain without users or aliases is renamed to its canonical
//     name (switches, password, limits and DKIM keys kept), or dropped
//     when the canonical domain exists too (it could hold nothing);
//   - a www. domain with users or aliases is left as it is (their
//     addresses are @www.shop.test, and renaming mail is not done behind
//     the admin's back) and reported at every start with what to do.

// fixWWWDomains migrates or reports the www. domains of an older file. It
// returns one line per domain left as it was.
func (s *Store) fixWWWDomains() ([]string, error) {
	any := false
	s.db.View(func(tx kv.Tx) error {
		k, _ := tx.Bucket(bucketDomains).Cursor().Seek([]byte("www."))
		any = k != nil && strings.HasPrefix(string(k), "www.")
		return nil
	})
	if !any {
		return nil, nil
	}
	var report []string
	err := s.db.Update(func(tx kv.Tx) error {
		report = nil // this may run more than once
		domains := tx.Bucket(bucketDomains)
		var legacy []string
		domains.ForEach(func(k, _ []byte) error {
			if strings.HasPrefix(string(k), "www.") {
				legacy = append(legacy, string(k))
			}
			return nil
		})
		for _, old := range legacy {
			canon, err := CanonicalDomain(old)
			if err != nil {
				report = append(report, fmt.Sprintf("domain %s: %v", old, err))
				continue
			}
			if n := addressesAt(tx, old); n > 0 {
				report = append(report, fmt.Sprintf("domain %s (stored by an older version) has %d users or aliases at @%s: "+
					"the CLI and panel now read %s as %s; move its users to @%s (add them there, then `authsmtp user remove ADDRESS@%s`) and restart to finish", old, n, old, old, canon, canon, old))
				continue
			}
			var d Domain
			getJSON(domains, old, &d)
			if err := domains.Delete([]byte(old)); err != nil {
				return err
			}
			dk := tx.Bucket(bucketDKIM)
			keys := []byte(nil)
			if dk != nil {
				keys = dk.Get([]byte(old))
				if keys != nil {
					keys = append([]byte(nil), keys...)
					if err := dk.Delete([]byte(old)); err != nil {
						return err
					}
				}
			}
			if domains.Get([]byte(canon)) != nil {
				s.log.Warn("store: dropped empty domain left by an older version", "domain", old, "kept", canon)
				continue
			}
			d.Name = canon
			if err := putJSON(domains, canon, d); err != nil {
				return err
			}
			if keys != nil {
				if err := dk.Put([]byte(canon), keys); err != nil {
					return err
				}
			}
			s.log.Warn("store: renamed domain left by an older version", "from", old, "to", canon)
		}
		return nil
	})
	for _, r := range report {
		s.log.Warn("store: " + r)
	}
	return report, err
}

// addressesAt counts the users and aliases at domain.
func addressesAt(tx kv.Tx, domain string) int {
	n := 0
	suffix := "@" + domain
	for _, name := range [][]byte{bucketUsers, bucketAliases} {
		if b := tx.Bucket(name); b != nil {
			b.ForEach(func(k, _ []byte) error {
				if strings.HasSuffix(string(k), suffix) {
					n++
				}
				return nil
			})
		}
	}
	return n
}
