package acme

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestStorageKV(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := NewStorage(st)
	ctx := context.Background()

	if _, err := s.Load(ctx, "certificates/ca/a.test/a.test.crt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load missing: %v, want fs.ErrNotExist", err)
	}
	if _, err := s.Stat(ctx, "nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat missing: %v, want fs.ErrNotExist", err)
	}
	if _, err := s.List(ctx, "nothing", true); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("List missing: %v, want fs.ErrNotExist", err)
	}
	if err := s.Delete(ctx, "nothing"); err != nil {
		t.Fatalf("Delete missing: %v, want nil", err)
	}
	for _, k := range []string{"certificates/ca/a.test/a.test.crt", "certificates/ca/a.test/a.test.key", "certificates/ca/ab.test/ab.test.crt", "acme/ca/users/x.json"} {
		if err := s.Store(ctx, k, []byte("v:"+k)); err != nil {
			t.Fatal(err)
		}
	}
	v, err := s.Load(ctx, "certificates/ca/a.test/a.test.key")
	if err != nil || string(v) != "v:certificates/ca/a.test/a.test.key" {
		t.Fatalf("Load = %q, %v", v, err)
	}
	got, err := s.List(ctx, "certificates/ca", false)
	if want := []string{"certificates/ca/a.test", "certificates/ca/ab.test"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("List non-recursive = %v, %v; want %v", got, err, want)
	}
	got, err = s.List(ctx, "certificates", true)
	want := []string{"certificates/ca", "certificates/ca/a.test", "certificates/ca/a.test/a.test.crt",
		"certificates/ca/a.test/a.test.key", "certificates/ca/ab.test", "certificates/ca/ab.test/ab.test.crt"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("List recursive = %v, %v; want %v", got, err, want)
	}
	// "a" is a prefix of "a/b" but not of "ab/c".
	ki, err := s.Stat(ctx, "certificates/ca/a.test")
	if err != nil || ki.IsTerminal {
		t.Errorf("Stat dir = %+v, %v; want a directory", ki, err)
	}
	ki, err = s.Stat(ctx, "certificates/ca/a.test/a.test.crt")
	if err != nil || !ki.IsTerminal || ki.Size != int64(len("v:certificates/ca/a.test/a.test.crt")) || time.Since(ki.Modified) > time.Minute {
		t.Errorf("Stat file = %+v, %v", ki, err)
	}
	if !s.Exists(ctx, "acme") || s.Exists(ctx, "acm") {
		t.Error("Exists is wrong for a directory or a partial name")
	}
	if err := s.Delete(ctx, "certificates/ca/a.test"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "certificates/ca/a.test/a.test.crt") || !s.Exists(ctx, "certificates/ca/ab.test/ab.test.crt") {
		t.Error("Delete of a directory removed the wrong keys")
	}
	// certmagic's keys stay apart from ours in the bucket.
	if _, err := st.CertGet("certmagic/acme/ca/users/x.json"); err != nil {
		t.Errorf("key not under certmagic/: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Store(cctx, "k", nil); err == nil {
		t.Error("Store ignored a cancelled context")
	}
}

// TestStorageLock: Lock excludes across goroutines, waits for Unlock,
// honours ctx, and takes over a lock whose holder vanished.
func TestStorageLock(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := NewStorage(st)
	s.pollWait = 5 * time.Millisecond
	ctx := context.Background()

	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Lock(ctx, "issue_cert_x"); err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			if n > maxInside.Load() {
				maxInside.Store(n)
			}
			time.Sleep(2 * time.Millisecond) // hold it while others try
			inside.Add(-1)
			if err := s.Unlock(ctx, "issue_cert_x"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Fatalf("%d holders at once, want 1", maxInside.Load())
	}

	if err := s.Lock(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.Lock(tctx, "busy"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock on a held lock = %v, want the ctx deadline", err)
	}
	if ok, err := s.TryLock(ctx, "busy"); ok || err != nil {
		t.Fatalf("TryLock on a held lock = %v, %v", ok, err)
	}
	if err := s.Unlock(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.TryLock(ctx, "busy"); !ok || err != nil {
		t.Fatalf("TryLock after Unlock = %v, %v", ok, err)
	}
	s.Unlock(ctx, "busy")

	// A holder that died (another process, before a restart) leaves a
	// stored lock that expires.
	if ok, _ := st.CertTryLock("stale", "dead-process", 30*time.Millisecond); !ok {
		t.Fatal("could not plant a stale lock")
	}
	if ok, _ := s.TryLock(ctx, "stale"); ok {
		t.Fatal("took a fresh lock held by someone else")
	}
	lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
	defer lcancel()
	if err := s.Lock(lctx, "stale"); err != nil {
		t.Fatalf("expired lock was not taken over: %v", err)
	}
	s.Unlock(ctx, "stale")
	if err := s.Unlock(ctx, "never-locked"); err == nil {
		t.Error("Unlock of a lock not held succeeded")
	}
}

// TestStorageLockRefresh: a held lock outlives its TTL while refreshed.
func TestStorageLockRefresh(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := NewStorage(st)
	s.lockTTL = 60 * time.Millisecond
	ctx := context.Background()
	if err := s.Lock(ctx, "long"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // > 3 TTLs: only refreshes keep it
	other := NewStorage(st)
	if ok, _ := other.TryLock(ctx, "long"); ok {
		t.Fatal("a refreshed lock was taken by another storage")
	}
	s.Unlock(ctx, "long")
	if ok, _ := other.TryLock(ctx, "long"); !ok {
		t.Fatal("lock not free after Unlock")
	}
	other.Unlock(ctx, "long")
}
