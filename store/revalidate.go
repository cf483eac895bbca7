package store

import (
	"crypto/sha256"
	"sync"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Revalidation after a gap. Revocations reach the other nodes by the feed
// (feed.go); a node whose listening connection was down when one was sent
// (a database restart, a network blip, its backend terminated) never
// hears it, and the sessions it should end would live on. So a gap in the
// feed (the listener connected again) marks a generation (revoke.go), and
// a session whose login was checked before it is checked once against the
// database at its next question: is the stored password hash still the one
// it logged in with (not changed, not removed), and for SMTP is its
// domain's switch still on? The answer is kept per login until the next
// gap, so this costs one read per login after a gap, none otherwise. A
// notice lost on the sending side (its publishing failed) leaves no gap
// here, so the feed also marks one every Options.RecheckEvery (5 minutes):
// that bounds how long any lost revocation can go unnoticed.
type revalidation struct {
	mu  sync.Mutex
	gap uint64          // the gap the answers are for
	ok  map[string]bool // login, credential print (and "smtp") → still valid
}

// credPrint fingerprints a stored password hash: a Principal keeps this,
// not the hash.
func credPrint(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return string(sum[:12])
}

// staleLogin reports whether p logged in before the last gap in the feed
// and its credentials (or, with smtp, its domain's SMTP switch) changed
// since. A database that does not answer leaves the session be; it is
// asked again at the next question.
func (s *Store) staleLogin(p Principal, smtp bool) bool {
	gap := s.revoked.gap.Load()
	if p.since >= gap || p.cred == "" {
		return false
	}
	key := p.Login() + "\x00" + p.cred
	if smtp {
		key += "\x00smtp"
	}
	rv := &s.recheck
	rv.mu.Lock()
	if rv.gap != gap {
		rv.gap, rv.ok = gap, map[string]bool{}
	}
	ok, known := rv.ok[key]
	rv.mu.Unlock()
	if known {
		return !ok
	}
	ok, err := s.stillValid(p, smtp)
	if err != nil {
		return false
	}
	rv.mu.Lock()
	if rv.gap == gap {
		rv.ok[key] = ok
	}
	rv.mu.Unlock()
	return !ok
}

// stillValid reads p's login in the database: its password hash is the
// one p logged in with, and with smtp its domain has the SMTP switch on.
func (s *Store) stillValid(p Principal, smtp bool) (bool, error) {
	ok := false
	err := s.db.View(func(tx kv.Tx) error {
		ok = false
		hash := storedHashTx(s.records, tx, p)
		if hash == "" || credPrint(hash) != p.cred {
			return nil
		}
		if smtp && p.Kind != KindAdmin {
			var d Domain
			if !getJSON(tx.Bucket(bucketDomains), p.Domain, &d) || !d.SMTP {
				return nil
			}
		}
		ok = true
		return nil
	})
	return ok, err
}

// storedHashTx is the password hash stored for p's login, "" if none.
func storedHashTx(rc *recordCache, tx kv.Tx, p Principal) string {
	switch p.Kind {
	case KindAdmin:
		return string(tx.Bucket(bucketMeta).Get([]byte("admin")))
	case KindUser:
		var u User
		if getRecord(rc, tx.Bucket(bucketUsers), p.Address, &u) {
			return u.PasswordHash
		}
	case KindDomain:
		var d Domain
		if getRecord(rc, tx.Bucket(bucketDomains), p.Domain, &d) {
			return d.PasswordHash
		}
	}
	return ""
}
