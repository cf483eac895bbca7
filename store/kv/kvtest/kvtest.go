// Package kvtest is the conformance suite of store/kv: every backend
// answers these the way bbolt does (nested buckets as nil values, byte
// order, cursors that survive writes, empty values that are not absent,
// missing buckets as nil interfaces, failed updates that change nothing).
package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Run runs the suite on fresh databases from open.
func Run(t *testing.T, open func(t *testing.T) kv.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db kv.DB)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"NestedBuckets", testNestedBuckets},
		{"Cursor", testCursor},
		{"CursorWrites", testCursorWrites},
		{"Rollback", testRollback},
		{"ReadOnly", testReadOnly},
		{"BigValues", testBigValues},
		{"NextSequence", testNextSequence},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func update(t *testing.T, db kv.DB, fn func(tx kv.Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, db kv.DB, fn func(tx kv.Tx) error) {
	t.Helper()
	if err := db.View(fn); err != nil {
		t.Fatal(err)
	}
}

func testGetPutDelete(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		if tx.Bucket([]byte("b")) != nil {
			return errors.New("a missing bucket is not a nil interface")
		}
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("b")); !errors.Is(err, kv.ErrBucketExists) {
			return fmt.Errorf("second CreateBucket: %v, want ErrBucketExists", err)
		}
		if b.Put([]byte("k"), []byte("v")) != nil || b.Put([]byte("empty"), []byte{}) != nil || b.Put([]byte("nil"), nil) != nil {
			return errors.New("put failed")
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if got := b.Get([]byte("k")); string(got) != "v" {
			t.Errorf("Get k = %q", got)
		}
		if got := b.Get([]byte("empty")); got == nil || len(got) != 0 {
			t.Errorf("Get of an empty value = %#v, want empty and not nil", got)
		}
		if got := b.Get([]byte("nil")); got == nil {
			t.Error("Put(k, nil) stored nothing (bbolt stores an empty value)")
		}
		if got := b.Get([]byte("missing")); got != nil {
			t.Errorf("Get of a missing key = %q", got)
		}
		if !tx.Writable() == false {
			t.Error("a View is writable")
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if !tx.Writable() {
			t.Error("an Update is not writable")
		}
		if err := b.Put([]byte("k"), []byte("w")); err != nil {
			return err
		}
		if got := b.Get([]byte("k")); string(got) != "w" {
			t.Errorf("Get after overwrite in the same tx = %q", got)
		}
		return b.Delete([]byte("empty"))
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if b.Get([]byte("empty")) != nil || string(b.Get([]byte("k"))) != "w" {
			t.Error("delete or overwrite lost")
		}
		if n := b.KeyN(); n != 2 {
			t.Errorf("KeyN = %d, want 2", n)
		}
		return nil
	})
}

func testNestedBuckets(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		top, err := tx.CreateBucketIfNotExists([]byte("top"))
		if err != nil {
			return err
		}
		for _, name := range []string{"a", "ab", "b"} {
			nb, err := top.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			if err := nb.Put([]byte("x"), []byte(name)); err != nil {
				return err
			}
			deep, err := nb.CreateBucketIfNotExists([]byte("deep"))
			if err != nil {
				return err
			}
			if err := deep.Put([]byte("y"), []byte(name)); err != nil {
				return err
			}
		}
		again, err := top.CreateBucketIfNotExists([]byte("a"))
		if err != nil || string(again.Get([]byte("x"))) != "a" {
			return fmt.Errorf("CreateBucketIfNotExists of an existing bucket: %v", err)
		}
		return top.Put([]byte("v"), []byte("value"))
	})
	view(t, db, func(tx kv.Tx) error {
		top := tx.Bucket([]byte("top"))
		if top.Get([]byte("a")) != nil {
			t.Error("Get of a nested bucket's name is not nil")
		}
		var keys []string
		top.ForEach(func(k, v []byte) error {
			keys = append(keys, fmt.Sprintf("%s=%v", k, v != nil))
			return nil
		})
		if fmt.Sprint(keys) != "[a=false ab=false b=false v=true]" {
			t.Errorf("ForEach = %v", keys)
		}
		var names []string
		top.ForEachBucket(func(k []byte) error { names = append(names, string(k)); return nil })
		if fmt.Sprint(names) != "[a ab b]" {
			t.Errorf("ForEachBucket = %v", names)
		}
		if got := top.Bucket([]byte("ab")).Bucket([]byte("deep")).Get([]byte("y")); string(got) != "ab" {
			t.Errorf("deep value = %q", got)
		}
		if top.Bucket([]byte("v")) != nil {
			t.Error("a key with a value is a bucket")
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		top := tx.Bucket([]byte("top"))
		if err := top.DeleteBucket([]byte("zz")); !errors.Is(err, kv.ErrBucketNotFound) {
			t.Errorf("DeleteBucket of a missing bucket: %v", err)
		}
		if err := top.DeleteBucket([]byte("a")); err != nil {
			return err
		}
		if top.Bucket([]byte("a")) != nil {
			t.Error("deleted bucket still there in its tx")
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		top := tx.Bucket([]byte("top"))
		if top.Bucket([]byte("a")) != nil {
			t.Error("deleted bucket still there")
		}
		if got := top.Bucket([]byte("ab")).Bucket([]byte("deep")).Get([]byte("y")); string(got) != "ab" {
			t.Errorf("deleting a took its sibling ab's data: %q", got)
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		top := tx.Bucket([]byte("top"))
		nb, err := top.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		if nb.Get([]byte("x")) != nil || nb.Bucket([]byte("deep")) != nil {
			t.Error("a re-created bucket holds the old one's data")
		}
		return tx.DeleteBucket([]byte("top"))
	})
	view(t, db, func(tx kv.Tx) error {
		if tx.Bucket([]byte("top")) != nil {
			t.Error("deleted top-level bucket still there")
		}
		return nil
	})
}

func fill(t *testing.T, db kv.DB, n int) {
	update(t, db, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("c"))
		if err != nil {
			return err
		}
		for i := range n {
			if err := b.Put(key(i), []byte{byte(i)}); err != nil {
				return err
			}
		}
		return nil
	})
}

// key orders bytewise as i does; 0xff bytes check byte (not text) order.
func key(i int) []byte { return []byte{0xff, byte(i >> 8), byte(i), 'k'} }

func testCursor(t *testing.T, db kv.DB) {
	const n = 700 // several pages
	fill(t, db, n)
	view(t, db, func(tx kv.Tx) error {
		c := tx.Bucket([]byte("c")).Cursor()
		i := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if !bytes.Equal(k, key(i)) || v[0] != byte(i) {
				t.Fatalf("Next #%d = %x", i, k)
			}
			i++
		}
		if i != n {
			t.Errorf("walked %d keys forward, want %d", i, n)
		}
		i = n - 1
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			if !bytes.Equal(k, key(i)) {
				t.Fatalf("Prev #%d = %x", i, k)
			}
			i--
		}
		if i != -1 {
			t.Errorf("walked back to %d, want -1", i)
		}
		k, _ := c.Seek([]byte{0xff, 1, 0x10})
		if !bytes.Equal(k, key(0x110)) {
			t.Errorf("Seek between keys = %x", k)
		}
		if k, _ := c.Prev(); !bytes.Equal(k, key(0x10f)) {
			t.Errorf("Prev after Seek = %x", k)
		}
		if k, _ := c.Next(); !bytes.Equal(k, key(0x110)) {
			t.Errorf("Next after turning = %x", k)
		}
		if k, _ := c.Seek([]byte{0xff, 0xff}); k != nil {
			t.Errorf("Seek past the end = %x", k)
		}
		if k, _ := tx.Bucket([]byte("c")).Cursor().Seek(key(5)); !bytes.Equal(k, key(5)) {
			t.Errorf("Seek exact = %x", k)
		}
		return nil
	})
}

func testCursorWrites(t *testing.T, db kv.DB) {
	const n = 300
	fill(t, db, n)
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("c"))
		c := b.Cursor()
		// Delete every even key through the cursor while walking.
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if k[2]%2 == 0 {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		// Rewrite values while walking with Seek (what the store does).
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if err := b.Put(k, []byte("odd")); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("c"))
		if got := b.KeyN(); got != n/2 {
			t.Errorf("%d keys left, want %d", got, n/2)
		}
		b.ForEach(func(k, v []byte) error {
			if k[2]%2 == 0 || string(v) != "odd" {
				t.Fatalf("key %x = %q", k, v)
			}
			return nil
		})
		return nil
	})
}

func testRollback(t *testing.T, db kv.DB) {
	fill(t, db, 3)
	boom := errors.New("boom")
	err := db.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("c"))
		b.Put([]byte("new"), []byte("x"))
		b.Delete(key(0))
		tx.CreateBucket([]byte("other"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("c"))
		if b.Get([]byte("new")) != nil || b.Get(key(0)) == nil || tx.Bucket([]byte("other")) != nil {
			t.Error("a failed Update left changes")
		}
		return nil
	})
}

func testReadOnly(t *testing.T, db kv.DB) {
	fill(t, db, 1)
	db.View(func(tx kv.Tx) error {
		if err := tx.Bucket([]byte("c")).Put([]byte("x"), []byte("y")); err == nil {
			t.Error("Put in a View succeeded")
		}
		return nil
	})
}

func testBigValues(t *testing.T, db kv.DB) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	update(t, db, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("bodies"))
		if err != nil {
			return err
		}
		for i := range 20 {
			if err := b.Put(key(i), append([]byte{byte(i)}, big...)); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		n := 0
		tx.Bucket([]byte("bodies")).ForEach(func(k, v []byte) error {
			if len(v) != len(big)+1 || v[0] != byte(n) {
				t.Fatalf("value %d: %d bytes", n, len(v))
			}
			n++
			return nil
		})
		if n != 20 {
			t.Errorf("%d big values, want 20", n)
		}
		return nil
	})
}

func testNextSequence(t *testing.T, db kv.DB) {
	var last uint64
	for range 3 {
		update(t, db, func(tx kv.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("seq"))
			if err != nil {
				return err
			}
			n, err := b.NextSequence()
			if err != nil {
				return err
			}
			if n <= last {
				t.Errorf("NextSequence %d after %d", n, last)
			}
			last = n
			return nil
		})
	}
}
