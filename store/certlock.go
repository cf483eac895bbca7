package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Named locks for the certificate storage (certmagic's Locker). A lock is
// a record in the certs bucket under "\x00lock/" + name holding its owner
// and an expiry. Taking it is one Update transaction, so it is atomic
// across goroutines; the expiry frees a lock whose holder died without
// unlocking (the next process to open the file). Holders refresh the
// expiry while they work. bbolt's file lock means only one process uses
// these records at a time, so no fencing beyond the owner token is needed.

const certLockPrefix = "\x00lock/"

type certLock struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

// CertTryLock takes the lock name for owner until ttl from now, unless
// another owner holds an unexpired lock. It reports whether owner holds it.
func (s *Store) CertTryLock(name, owner string, ttl time.Duration) (bool, error) {
	got := false
	err := s.db.Update(func(tx kv.Tx) error {
		// A retried transaction (PostgreSQL's serialization failures)
		// runs this again: start from "not taken" every time.
		got = false
		b := tx.Bucket(bucketCerts)
		k := []byte(certLockPrefix + name)
		if v := b.Get(k); v != nil {
			var l certLock
			if json.Unmarshal(v, &l) == nil && l.Owner != owner && time.Now().Before(l.Expires) {
				return nil
			}
		}
		v, err := json.Marshal(certLock{Owner: owner, Expires: time.Now().Add(ttl)})
		if err != nil {
			return err
		}
		got = true
		return b.Put(k, v)
	})
	if err != nil {
		return false, fmt.Errorf("taking certificate lock %s: %w", name, err)
	}
	return got, nil
}

// CertRefreshLock extends owner's lock on name to ttl from now. It fails
// when owner no longer holds the lock (it expired and someone took it).
func (s *Store) CertRefreshLock(name, owner string, ttl time.Duration) error {
	return s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketCerts)
		k := []byte(certLockPrefix + name)
		var l certLock
		if v := b.Get(k); v == nil || json.Unmarshal(v, &l) != nil || l.Owner != owner {
			return fmt.Errorf("refreshing certificate lock %s: not held", name)
		}
		l.Expires = time.Now().Add(ttl)
		v, err := json.Marshal(l)
		if err != nil {
			return err
		}
		return b.Put(k, v)
	})
}

// CertUnlock releases owner's lock on name; a lock held by someone else
// (after expiry) is left alone.
func (s *Store) CertUnlock(name, owner string) error {
	return s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketCerts)
		k := []byte(certLockPrefix + name)
		var l certLock
		if v := b.Get(k); v != nil && json.Unmarshal(v, &l) == nil && l.Owner == owner {
			return b.Delete(k)
		}
		return nil
	})
}
