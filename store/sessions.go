package store

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Session is a web login, kept server-side so sign-out and a password
// change end it at once.
type Session struct {
	ID      string    `json:"id"`
	Login   string    `json:"login"`
	Kind    Kind      `json:"kind"`
	Domain  string    `json:"domain,omitempty"`
	Address string    `json:"address,omitempty"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// Principal returns who the session belongs to.
func (s Session) Principal() Principal {
	return Principal{Kind: s.Kind, Domain: s.Domain, Address: s.Address}
}

// RandomToken returns n random bytes, URL-safe base64 encoded.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewSession stores a fresh session (256-bit id) for p, valid for ttl.
func (s *Store) NewSession(p Principal, ttl time.Duration) (Session, error) {
	now := time.Now().UTC()
	sess := Session{ID: RandomToken(32), Login: p.Login(), Kind: p.Kind, Domain: p.Domain,
		Address: p.Address, CSRF: RandomToken(32), Created: now, Expires: now.Add(ttl)}
	err := s.db.Update(func(tx kv.Tx) error {
		return putJSON(tx.Bucket(bucketSessions), sess.ID, sess)
	})
	return sess, err
}

// GetSession returns a live session, or false.
func (s *Store) GetSession(id string) (Session, bool) {
	var sess Session
	ok := false
	if id == "" {
		return sess, false
	}
	s.db.View(func(tx kv.Tx) error {
		ok = getJSON(tx.Bucket(bucketSessions), id, &sess)
		return nil
	})
	if ok && time.Now().After(sess.Expires) {
		s.DeleteSession(id)
		return Session{}, false
	}
	return sess, ok
}

// DeleteSession ends one session.
func (s *Store) DeleteSession(id string) error {
	return s.db.Update(func(tx kv.Tx) error {
		return tx.Bucket(bucketSessions).Delete([]byte(id))
	})
}

// endSessionsOf ends every session of a login (and, for a domain, of its
// users' logins too when the domain is removed).
func (s *Store) endSessionsOf(login string) {
	s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketSessions)
		var dead [][]byte
		b.ForEach(func(k, v []byte) error {
			var sess Session
			if json.Unmarshal(v, &sess) != nil || sess.Login == login || time.Now().After(sess.Expires) {
				dead = append(dead, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range dead {
			b.Delete(k)
		}
		return nil
	})
}
