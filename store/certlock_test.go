package store

import (
	"testing"
	"time"
)

// TestCertLock: one owner at a time; the owner may re-take and refresh;
// an expired lock goes to the next owner; only the owner unlocks; the
// lock survives reopening the file until it expires.
func TestCertLock(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	take := func(owner string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.CertTryLock("issue_cert_a.test", owner, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take("A", time.Hour) || take("B", time.Hour) || !take("A", time.Hour) {
		t.Fatal("lock not exclusive to its owner")
	}
	if err := s.CertRefreshLock("issue_cert_a.test", "B", time.Hour); err == nil {
		t.Fatal("a non-owner refreshed the lock")
	}
	if err := s.CertUnlock("issue_cert_a.test", "B"); err != nil || take("B", time.Hour) {
		t.Fatalf("a non-owner's unlock freed the lock (%v)", err)
	}
	s.Close()
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if take("B", time.Hour) {
		t.Fatal("lock lost by reopening the file")
	}
	if err := s.CertUnlock("issue_cert_a.test", "A"); err != nil || !take("B", 20*time.Millisecond) {
		t.Fatalf("unlocked lock not free (%v)", err)
	}
	if err := s.CertRefreshLock("issue_cert_a.test", "B", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond) // let B's lock expire
	if !take("C", time.Hour) {
		t.Fatal("expired lock not taken over")
	}
	if keys, _ := s.CertList("issue"); len(keys) != 0 {
		t.Errorf("lock records visible as certificate keys: %v", keys)
	}
}
