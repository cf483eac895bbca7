package store

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/authsmtp/authsmtp/store/kv"
	"github.com/authsmtp/authsmtp/store/kv/boltkv"
)

// TestSeqGetter checks that the cursor reader answers exactly as
// Bucket.Get for keys asked in ascending, repeated, missing and
// descending order.
func TestSeqGetter(t *testing.T) {
	db, err := boltkv.Open(filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := uint32(2); i <= 2000; i += 2 { // even keys only
			if err := b.Put(u32(i), u32(i*10)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	var keys []uint32
	for i := uint32(0); i <= 2003; i++ {
		keys = append(keys, i) // ascending, with gaps and past the end
	}
	for i := 0; i < 500; i++ {
		keys = append(keys, uint32(r.IntN(2100))) // random order
	}
	keys = append(keys, 5, 5, 4, 4, 2003, 0, 1, 2) // repeats and steps back
	err = db.View(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		g := newSeqGetter(b)
		for _, k := range keys {
			want, got := b.Get(u32(k)), g.get(u32(k))
			if string(want) != string(got) || (want == nil) != (got == nil) {
				t.Fatalf("key %d: got %x, Get gives %x", k, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
