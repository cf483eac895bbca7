package pgkv_test

import (
	"fmt"
	"testing"

	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
	"github.com/authsmtp/authsmtp/store/kv"
)

// TestPendingWritesRead: writes queued in a transaction are seen by its
// own Gets, cursors, bucket checks and counts before they are sent, the
// last write of a key wins, and what commits is exactly that.
func TestPendingWritesRead(t *testing.T) {
	db := open(t, pgtest.URL(t))
	err := db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 5 {
			b.Put(fmt.Appendf(nil, "k%d", i), []byte("old"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if got := string(b.Get([]byte("k1"))); got != "old" {
			t.Errorf("k1 = %q before any write", got)
		}
		b.Put([]byte("k1"), []byte("new"))
		b.Put([]byte("k1"), []byte("newer"))
		b.Delete([]byte("k2"))
		b.Put([]byte("k9"), []byte("added"))
		if got := string(b.Get([]byte("k1"))); got != "newer" {
			t.Errorf("k1 = %q after two Puts, want the last", got)
		}
		if got := b.Get([]byte("k2")); got != nil {
			t.Errorf("k2 = %q after Delete", got)
		}
		if n := b.KeyN(); n != 5 {
			t.Errorf("KeyN = %d, want 5 (k0 k1 k3 k4 k9)", n)
		}
		// Sent now (before the count): Get reads what was sent, not
		// what it read before the writes.
		if got := string(b.Get([]byte("k1"))); got != "newer" {
			t.Errorf("k1 = %q after the writes were sent", got)
		}
		if got := b.Get([]byte("k2")); got != nil {
			t.Errorf("k2 = %q after its Delete was sent", got)
		}
		var keys string
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			keys += fmt.Sprintf("%s=%s ", k, v)
			if string(k) == "k3" {
				b.Put([]byte("k4"), []byte("during")) // a write while walking
			}
		}
		if want := "k0=old k1=newer k3=old k4=during k9=added "; keys != want {
			t.Errorf("cursor saw %q, want %q", keys, want)
		}
		if _, err := b.CreateBucket([]byte("k9")); err != kv.ErrBucketExists {
			t.Errorf("CreateBucket over a queued key: %v, want ErrBucketExists", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys string
	db.View(func(tx kv.Tx) error {
		return tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error {
			keys += fmt.Sprintf("%s=%s ", k, v)
			return nil
		})
	})
	if want := "k0=old k1=newer k3=old k4=during k9=added "; keys != want {
		t.Errorf("committed %q, want %q", keys, want)
	}
}

// TestRoundTripsPerTransaction: a transaction that reads one key many
// times and writes many keys costs a fixed number of round trips (BEGIN,
// one read, one flush, COMMIT), not one per call; a rolled-back one sends
// nothing it queued.
func TestRoundTripsPerTransaction(t *testing.T) {
	db := open(t, pgtest.URL(t))
	if err := db.Update(func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx kv.Tx) error { tx.Bucket([]byte("b")); return nil }) // the root is known
	before := db.Stats()
	err := db.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 20 {
			b.Get([]byte("hot"))
			b.Put([]byte("hot"), fmt.Append(nil, i))
			b.Put(fmt.Appendf(nil, "k%02d", i), []byte("v"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	after := db.Stats()
	if n := after.RoundTrips - before.RoundTrips; n != 4 {
		t.Errorf("%d round trips for 20 reads and 40 writes, want 4 (BEGIN, read, flush, COMMIT)", n)
	}
	if n := after.Transactions - before.Transactions; n != 1 {
		t.Errorf("%d transactions, want 1", n)
	}
	failed := fmt.Errorf("roll back")
	if err := db.Update(func(tx kv.Tx) error { tx.Bucket([]byte("b")).Put([]byte("gone"), []byte("x")); return failed }); err != failed {
		t.Fatalf("Update = %v", err)
	}
	var hot, gone []byte
	n := 0
	db.View(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		hot, gone, n = b.Get([]byte("hot")), b.Get([]byte("gone")), b.KeyN()
		return nil
	})
	if string(hot) != "19" || gone != nil || n != 21 {
		t.Errorf("committed hot=%q gone=%q keys=%d, want 19, nil, 21", hot, gone, n)
	}
}

// TestGetMany: GetMany answers as Get does for each key (a value, a
// queued write, a delete, a nested bucket, a missing or repeated key),
// in one round trip for the keys the transaction had not read.
func TestGetMany(t *testing.T) {
	db := open(t, pgtest.URL(t))
	err := db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket([]byte("nested")); err != nil {
			return err
		}
		for i := range 10 {
			b.Put(fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		b.Put([]byte("k1"), []byte("queued"))
		b.Delete([]byte("k2"))
		keys := [][]byte{[]byte("k0"), []byte("k1"), []byte("k2"), []byte("nested"), []byte("missing"), []byte("k3"), []byte("k3")}
		before := db.Stats().RoundTrips
		got := kv.GetMany(b, keys)
		if n := db.Stats().RoundTrips - before; n != 1 {
			t.Errorf("GetMany took %d round trips, want 1", n)
		}
		for i, k := range keys {
			if want := b.Get(k); string(got[i]) != string(want) || (got[i] == nil) != (want == nil) {
				t.Errorf("GetMany %s = %q, Get = %q", k, got[i], want)
			}
		}
		if string(got[0]) != "v0" || string(got[1]) != "queued" || got[2] != nil || got[3] != nil || got[4] != nil || string(got[6]) != "v3" {
			t.Errorf("GetMany = %q", got)
		}
		before = db.Stats().RoundTrips
		kv.GetMany(b, keys) // all known now
		if n := db.Stats().RoundTrips - before; n != 0 {
			t.Errorf("GetMany of keys read before took %d round trips, want 0", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
