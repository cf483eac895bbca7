package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// TestGroupCommit: concurrent functions commit together; a failing one
// gets its own error and does not take the others down; a panic is an
// error, not a crash of the committer.
func TestGroupCommit(t *testing.T) {
	st := authTestStore(t)
	g := st.commits
	bad := errors.New("bad call")
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.do(func(tx kv.Tx) error {
				if i == 7 {
					return bad
				}
				return tx.Bucket(bucketMeta).Put([]byte(fmt.Sprintf("gc-%d", i)), []byte("x"))
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i == 7) != errors.Is(err, bad) || i != 7 && err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	st.db.View(func(tx kv.Tx) error {
		for i := range errs {
			if got := tx.Bucket(bucketMeta).Get([]byte(fmt.Sprintf("gc-%d", i))); (got != nil) == (i == 7) {
				t.Errorf("key %d stored=%v", i, got != nil)
			}
		}
		return nil
	})
	func() {
		defer func() { recover() }() // the solo re-run panics in the caller, like bbolt's Batch
		g.do(func(tx kv.Tx) error { panic("boom") })
	}()
	if err := g.do(func(tx kv.Tx) error { return nil }); err != nil {
		t.Fatalf("committer broken after a panic: %v", err)
	}
	// After a burst of 40 writers, a lone writer lingers at most briefly.
	for i := 0; i < 5; i++ {
		start := time.Now()
		if err := g.do(func(tx kv.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("lone writer waited %v", d)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight != 0 || g.running && len(g.pending) > 0 {
		t.Fatalf("committer state after all calls: inflight %d pending %d", g.inflight, len(g.pending))
	}
}

// retryingDB runs an Update's function a second time after a first run
// that it rolls back, as PostgreSQL does after a serialization failure.
type retryingDB struct {
	kv.DB
	retried bool
}

var errConflict = errors.New("serialization failure (simulated)")

func (d *retryingDB) Update(fn func(kv.Tx) error) error {
	if !d.retried {
		d.retried = true
		d.DB.Update(func(tx kv.Tx) error { fn(tx); return errConflict })
	}
	return d.DB.Update(fn)
}

// TestGroupCommitRetriedRun: a call that failed in a run the backend
// threw away and retried is not run again alone when the retried run
// committed it (it was, once: each message stored exactly once).
func TestGroupCommitRetriedRun(t *testing.T) {
	st := authTestStore(t)
	db := &retryingDB{DB: st.db}
	g := newGroupCommit(db, 8)
	runs := 0
	calls := []groupCall{
		{fn: func(tx kv.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("gc-a"), []byte("x")) }, err: make(chan error, 1)},
		{fn: func(tx kv.Tx) error {
			runs++
			if runs == 1 {
				return errConflict // its statement met the conflict
			}
			b := tx.Bucket(bucketMeta)
			n := len(b.Get([]byte("gc-b")))
			return b.Put([]byte("gc-b"), make([]byte, n+1)) // one byte per committed run
		}, err: make(chan error, 1)},
	}
	g.commit(calls)
	for i, c := range calls {
		if err := <-c.err; err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	st.db.View(func(tx kv.Tx) error {
		if n := len(tx.Bucket(bucketMeta).Get([]byte("gc-b"))); n != 1 {
			t.Errorf("call b committed %d times, want once", n)
		}
		return nil
	})
}
