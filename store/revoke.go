package store

import (
	"sync"
	"sync/atomic"
)

// Revocation: a password change, an account or domain removal, or a
// domain's Authenticated SMTP switch turned off must end the sessions
// already open, not only refuse new logins ("stops working everywhere at
// once"). Every such change bumps a generation for the keys it revokes;
// a Principal remembers the generation current when its password was
// checked (Principal.since), and a session asks Revoked/SMTPRevoked before
// each command. The common case, nothing revoked since the login, is one
// atomic load: no lock, no database read, no JSON.
//
// Keys: "login:<canonical login>" (password changed, account removed) and
// "smtp:<domain>" (the domain's SMTP switch turned off, domain removed).
//
// With several nodes on one database the same keys cross nodes (feed.go):
// after the change is committed, revoke sends its keys to the other nodes,
// which apply them to their own table; sessions keep asking the same
// cheap question. A notice sent while a node was not listening is lost:
// after such a gap the node checks its older sessions against the
// database instead (revalidate.go).
type revocations struct {
	gen atomic.Uint64 // bumped by every revoke
	// gap is the generation of the last gap in the feed from the other
	// nodes: revocations may have been missed before it (revalidate.go).
	gap atomic.Uint64

	mu      sync.RWMutex
	at      map[string]uint64 // key → generation of its last revocation
	changed chan struct{}     // closed and replaced at every revoke

	// remote, when set, sends revoked keys to the other nodes.
	remote func(keys []string)
}

func newRevocations() *revocations {
	return &revocations{at: map[string]uint64{}, changed: make(chan struct{})}
}

// current is the generation to give a login that is about to be checked.
func (r *revocations) current() uint64 { return r.gen.Load() }

// revoke revokes keys here and on every other node.
func (r *revocations) revoke(keys ...string) {
	r.apply(keys)
	if r.remote != nil {
		r.remote(keys)
	}
}

// apply revokes keys in this process.
func (r *revocations) apply(keys []string) {
	r.mu.Lock()
	n := r.gen.Add(1)
	for _, k := range keys {
		r.at[k] = n
	}
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// markGap records a gap in the feed: sessions whose login was checked
// before it are checked against the database again (revalidate.go). It
// wakes waiting sessions as a revocation does.
func (r *revocations) markGap() {
	r.mu.Lock()
	r.gap.Store(r.gen.Add(1))
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// since reports whether any of keys was revoked after generation gen.
func (r *revocations) since(gen uint64, keys ...string) bool {
	if r.gen.Load() == gen {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, k := range keys {
		if r.at[k] > gen {
			return true
		}
	}
	return false
}

// Revoked reports whether p's login was revoked (password changed, account
// or domain removed) after p logged in. A Principal that did not come from
// Login (web sessions, tests) counts as logged in at the start.
func (s *Store) Revoked(p Principal) bool {
	return s.revoked.since(p.since, "login:"+p.Login()) || s.staleLogin(p, false)
}

// SMTPRevoked is Revoked for an SMTP session: also true once the domain's
// Authenticated SMTP switch was turned off or the domain removed.
func (s *Store) SMTPRevoked(p Principal) bool {
	return s.revoked.since(p.since, "login:"+p.Login(), "smtp:"+p.Domain) || s.staleLogin(p, true)
}

// RevocationSignal returns a channel closed at the next revocation of any
// login, so a waiting session (IMAP IDLE) can check Revoked without
// polling.
func (s *Store) RevocationSignal() <-chan struct{} {
	s.revoked.mu.RLock()
	defer s.revoked.mu.RUnlock()
	return s.revoked.changed
}
