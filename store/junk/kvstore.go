package junk

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// KVStore keeps models in the store's key-value database (store/kv),
// under one top-level bucket:
//
//	junk        model name → nested bucket:
//	              "totals"   → ham u32, spam u32, last trained unix s i64 (BE)
//	              "t"        → token → ham u32, spam u32 (BE); absent when both 0
//	              "m"        → message key (32 bytes) → class (1 byte)
//	              "c"        → contact (address or "@domain") → unix s (8 bytes BE)
type KVStore struct{ db kv.DB }

var (
	bucketJunk = []byte("junk")
	keyTotals  = []byte("totals")
	subTokens  = []byte("t")
	subMsgs    = []byte("m")
	subContact = []byte("c")
)

var _ Store = (*KVStore)(nil)

// NewKVStore keeps models in db (the store's database).
func NewKVStore(db kv.DB) (*KVStore, error) {
	err := db.Update(func(tx kv.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketJunk)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating the junk bucket: %w", err)
	}
	return &KVStore{db: db}, nil
}

func readTotals(mb kv.Bucket) Totals {
	var t Totals
	if v := mb.Get(keyTotals); len(v) == 16 {
		t.Ham = int(binary.BigEndian.Uint32(v))
		t.Spam = int(binary.BigEndian.Uint32(v[4:]))
		if s := int64(binary.BigEndian.Uint64(v[8:])); s > 0 {
			t.LastTrained = time.Unix(s, 0).UTC()
		}
	}
	return t
}

func writeTotals(mb kv.Bucket, t Totals) error {
	v := make([]byte, 16)
	binary.BigEndian.PutUint32(v, uint32(t.Ham))
	binary.BigEndian.PutUint32(v[4:], uint32(t.Spam))
	if !t.LastTrained.IsZero() {
		binary.BigEndian.PutUint64(v[8:], uint64(t.LastTrained.Unix()))
	}
	return mb.Put(keyTotals, v)
}

func (s *KVStore) Counts(model string, tokens []string) (Totals, []Count, error) {
	var tot Totals
	counts := make([]Count, len(tokens))
	err := s.db.View(func(tx kv.Tx) error {
		mb := tx.Bucket(bucketJunk).Bucket([]byte(model))
		if mb == nil {
			return nil
		}
		tot = readTotals(mb)
		tb := mb.Bucket(subTokens)
		if tb == nil {
			return nil
		}
		if _, ok := tb.(kv.Getter); ok {
			// A database server: every token in one round trip.
			for i, v := range kv.GetMany(tb, tokenKeys(tokens)) {
				if len(v) == 8 {
					counts[i] = Count{Ham: int(binary.BigEndian.Uint32(v)), Spam: int(binary.BigEndian.Uint32(v[4:]))}
				}
			}
			return nil
		}
		// In key order, one cursor: each lookup starts near the last.
		order := make([]int, len(tokens))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(tokens[a], tokens[b]) })
		c := tb.Cursor()
		for _, i := range order {
			k, v := c.Seek([]byte(tokens[i]))
			if k != nil && string(k) == tokens[i] && len(v) == 8 {
				counts[i] = Count{Ham: int(binary.BigEndian.Uint32(v)), Spam: int(binary.BigEndian.Uint32(v[4:]))}
			}
		}
		return nil
	})
	return tot, counts, err
}

func (s *KVStore) Train(models []string, key [32]byte, c Class, tokens []string, now time.Time) (bool, error) {
	sorted := slices.Clone(tokens)
	slices.Sort(sorted) // neighbouring keys: fewer pages touched
	sorted = slices.Compact(sorted)
	changed := false
	err := s.db.Update(func(tx kv.Tx) error {
		changed = false
		for i, model := range models {
			ch, err := trainTx(tx, model, key, c, sorted, now)
			if err != nil {
				return fmt.Errorf("training %s: %w", model, err)
			}
			if i == 0 {
				changed = ch
			}
		}
		return nil
	})
	return changed, err
}

func trainTx(tx kv.Tx, model string, key [32]byte, c Class, tokens []string, now time.Time) (bool, error) {
	mb, err := tx.Bucket(bucketJunk).CreateBucketIfNotExists([]byte(model))
	if err != nil {
		return false, err
	}
	msgs, err := mb.CreateBucketIfNotExists(subMsgs)
	if err != nil {
		return false, err
	}
	old := None
	if v := msgs.Get(key[:]); len(v) == 1 {
		old = Class(v[0])
	}
	if old == c {
		return false, nil
	}
	tb, err := mb.CreateBucketIfNotExists(subTokens)
	if err != nil {
		return false, err
	}
	tot := readTotals(mb)
	if err := addTokens(tb, tokens, old, -1); err != nil {
		return false, err
	}
	if err := addTokens(tb, tokens, c, +1); err != nil {
		return false, err
	}
	bump(&tot, old, -1)
	bump(&tot, c, +1)
	tot.LastTrained = now
	if c == None {
		err = msgs.Delete(key[:])
	} else {
		err = msgs.Put(key[:], []byte{byte(c)})
	}
	if err != nil {
		return false, err
	}
	return true, writeTotals(mb, tot)
}

func bump(t *Totals, c Class, d int) {
	switch c {
	case Ham:
		t.Ham = max(t.Ham+d, 0)
	case Spam:
		t.Spam = max(t.Spam+d, 0)
	}
}

// addTokens adds d to class c's count of every token (nothing for None).
func addTokens(tb kv.Bucket, tokens []string, c Class, d int) error {
	if c == None {
		return nil
	}
	off := 0
	if c == Spam {
		off = 4
	}
	keys := tokenKeys(tokens)
	olds := kv.GetMany(tb, keys) // one round trip on a database server
	for i, k := range keys {
		v := make([]byte, 8)
		copy(v, olds[i])
		n := int(binary.BigEndian.Uint32(v[off:])) + d
		binary.BigEndian.PutUint32(v[off:], uint32(max(n, 0)))
		var err error
		if binary.BigEndian.Uint64(v) == 0 {
			err = tb.Delete(k)
		} else {
			err = tb.Put(k, v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func tokenKeys(tokens []string) [][]byte {
	keys := make([][]byte, len(tokens))
	for i, t := range tokens {
		keys[i] = []byte(t)
	}
	return keys
}

func (s *KVStore) Totals(model string) (Totals, error) {
	var t Totals
	err := s.db.View(func(tx kv.Tx) error {
		if mb := tx.Bucket(bucketJunk).Bucket([]byte(model)); mb != nil {
			t = readTotals(mb)
		}
		return nil
	})
	return t, err
}

func (s *KVStore) Reset(model string) error {
	return s.db.Update(func(tx kv.Tx) error {
		err := tx.Bucket(bucketJunk).DeleteBucket([]byte(model))
		if err == kv.ErrBucketNotFound {
			return nil
		}
		return err
	})
}

func (s *KVStore) AddContacts(model string, contacts []string, now time.Time) error {
	if len(contacts) == 0 {
		return nil
	}
	// Batch: a contact note rides along with whatever commits next.
	return s.db.Batch(func(tx kv.Tx) error {
		mb, err := tx.Bucket(bucketJunk).CreateBucketIfNotExists([]byte(model))
		if err != nil {
			return err
		}
		cb, err := mb.CreateBucketIfNotExists(subContact)
		if err != nil {
			return err
		}
		v := binary.BigEndian.AppendUint64(nil, uint64(now.Unix()))
		for _, c := range contacts {
			if err := cb.Put([]byte(c), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *KVStore) HasContact(model string, contacts []string) (bool, error) {
	found := false
	err := s.db.View(func(tx kv.Tx) error {
		mb := tx.Bucket(bucketJunk).Bucket([]byte(model))
		if mb == nil {
			return nil
		}
		cb := mb.Bucket(subContact)
		if cb == nil {
			return nil
		}
		for _, c := range contacts {
			if cb.Get([]byte(c)) != nil {
				found = true
				return nil
			}
		}
		return nil
	})
	return found, err
}

// DeleteModelTx deletes a model inside tx (a user's removal).
func DeleteModelTx(tx kv.Tx, model string) error {
	b := tx.Bucket(bucketJunk)
	if b == nil || b.Bucket([]byte(model)) == nil {
		return nil
	}
	return b.DeleteBucket([]byte(model))
}
