package pgkv

import (
	"encoding/binary"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/authsmtp/authsmtp/store/kv"
)

// bucket is a bucket by its encoded path; the root bucket (path "") holds
// the top-level buckets.
type bucket struct {
	tx   *tx
	path []byte
}

// childPath encodes the path of the nested bucket name: each name is
// prefixed with its length (a uvarint, which no other length's encoding
// starts with), so a path's descendants are exactly the paths that start
// with it.
func (b *bucket) childPath(name []byte) []byte {
	p := make([]byte, 0, len(b.path)+binary.MaxVarintLen64+len(name))
	p = append(p, b.path...)
	p = binary.AppendUvarint(p, uint64(len(name)))
	return append(p, name...)
}

// prefixEnd is the smallest byte string above every string starting with
// p, or nil if there is none (p all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func (b *bucket) Get(key []byte) []byte {
	t := b.tx
	if t.err != nil {
		return nil
	}
	c := cell{string(b.path), string(key)}
	if v, ok := t.cachedGet(c); ok {
		return v
	}
	var v []byte
	t.stmt()
	err := t.ptx.QueryRow(t.ctx, "SELECT value FROM kv WHERE bucket = $1 AND key = $2", b.path, key).Scan(&v)
	if err == pgx.ErrNoRows {
		t.noteRead(c, nil)
		return nil
	}
	if err != nil {
		t.fail(err)
		return nil
	}
	// A nested bucket (NULL) reads as nil, as a missing key.
	t.noteRead(c, v)
	return v
}

// Put queues the write (writes.go); a large value goes at once.
func (b *bucket) Put(key, value []byte) error {
	t := b.tx
	if !t.writable {
		return kv.ErrTxNotWritable
	}
	if t.err != nil {
		return t.err
	}
	t.gen++
	c := cell{string(b.path), string(key)}
	if len(value) < directPut {
		// Copied: the caller may reuse value before the flush.
		t.queue(c, pendingWrite{value: append([]byte{}, value...)})
		return nil
	}
	delete(t.writes, c) // this write replaces it
	delete(t.reads, c)
	t.stmt()
	_, err := t.ptx.Exec(t.ctx, `INSERT INTO kv (bucket, key, value) VALUES ($1, $2, $3)
		ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value`, b.path, key, value)
	if err != nil {
		t.fail(err)
		return t.err
	}
	return nil
}

// Delete queues the delete (writes.go). A nested bucket's row is left
// alone, as before.
func (b *bucket) Delete(key []byte) error {
	t := b.tx
	if !t.writable {
		return kv.ErrTxNotWritable
	}
	if t.err != nil {
		return t.err
	}
	t.gen++
	t.queue(cell{string(b.path), string(key)}, pendingWrite{delete: true})
	return nil
}

func (b *bucket) Bucket(name []byte) kv.Bucket {
	t := b.tx
	p := b.childPath(name)
	if t.err != nil {
		// The transaction failed and will return its error: a non-nil
		// bucket that does nothing keeps callers from a nil dereference.
		return &bucket{tx: t, path: p}
	}
	if ok, known := t.buckets[string(p)]; known {
		if !ok {
			return nil
		}
		return &bucket{tx: t, path: p}
	}
	if len(b.path) == 0 {
		if _, ok := t.db.roots.Load(string(p)); ok {
			return &bucket{tx: t, path: p}
		}
	}
	var isBucket bool
	if t.flush() != nil {
		return &bucket{tx: t, path: p} // inert, as above
	}
	t.stmt()
	err := t.ptx.QueryRow(t.ctx, "SELECT value IS NULL FROM kv WHERE bucket = $1 AND key = $2", b.path, name).Scan(&isBucket)
	if err != nil && err != pgx.ErrNoRows {
		t.fail(err)
		return &bucket{tx: t, path: p} // inert, as above
	}
	t.known(p, isBucket)
	if !isBucket {
		return nil
	}
	if len(b.path) == 0 {
		t.db.roots.Store(string(p), struct{}{})
	}
	return &bucket{tx: t, path: p}
}

// known notes in the transaction whether the bucket at path p exists.
func (t *tx) known(p []byte, exists bool) {
	if t.buckets == nil {
		t.buckets = map[string]bool{}
	}
	t.buckets[string(p)] = exists
}

func (b *bucket) CreateBucket(name []byte) (kv.Bucket, error) {
	return b.create(name, false)
}

func (b *bucket) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	return b.create(name, true)
}

func (b *bucket) create(name []byte, mayExist bool) (kv.Bucket, error) {
	t := b.tx
	if !t.writable {
		return nil, kv.ErrTxNotWritable
	}
	if t.err != nil {
		return nil, t.err
	}
	if mayExist {
		if nb := b.Bucket(name); nb != nil {
			return nb, nil
		}
		if t.err != nil {
			return nil, t.err
		}
	}
	t.gen++
	if t.flush() != nil {
		return nil, t.err
	}
	t.stmt()
	tag, err := t.ptx.Exec(t.ctx, "INSERT INTO kv (bucket, key, value) VALUES ($1, $2, NULL) ON CONFLICT DO NOTHING", b.path, name)
	if err != nil {
		t.fail(err)
		return nil, t.err
	}
	if tag.RowsAffected() == 0 {
		return nil, kv.ErrBucketExists // a bucket, or a key with a value
	}
	p := b.childPath(name)
	t.known(p, true)
	return &bucket{tx: t, path: p}, nil
}

func (b *bucket) DeleteBucket(name []byte) error {
	t := b.tx
	if !t.writable {
		return kv.ErrTxNotWritable
	}
	if b.Bucket(name) == nil {
		if t.err != nil {
			return t.err
		}
		return kv.ErrBucketNotFound
	}
	t.gen++
	if t.flush() != nil {
		return t.err
	}
	p := b.childPath(name)
	t.stmt()
	if _, err := t.ptx.Exec(t.ctx, "DELETE FROM kv WHERE bucket = $1 AND key = $2", b.path, name); err != nil {
		t.fail(err)
		return t.err
	}
	var err error
	t.stmt()
	if end := prefixEnd(p); end != nil {
		_, err = t.ptx.Exec(t.ctx, "DELETE FROM kv WHERE bucket >= $1 AND bucket < $2", p, end)
	} else {
		_, err = t.ptx.Exec(t.ctx, "DELETE FROM kv WHERE bucket >= $1", p)
	}
	if err != nil {
		t.fail(err)
		return t.err
	}
	clear(t.buckets) // the nested buckets went too
	clear(t.reads)
	t.known(p, false)
	if len(b.path) == 0 {
		t.db.roots.Delete(string(p))
	}
	return nil
}

func (b *bucket) NextSequence() (uint64, error) { return b.tx.NextID() }

func (b *bucket) KeyN() int {
	t := b.tx
	if t.err != nil {
		return 0
	}
	var n int
	if t.flush() != nil {
		return 0
	}
	t.stmt()
	if err := t.ptx.QueryRow(t.ctx, "SELECT count(*) FROM kv WHERE bucket = $1", b.path).Scan(&n); err != nil {
		t.fail(err)
		return 0
	}
	return n
}

func (b *bucket) Cursor() kv.Cursor { return &cursor{b: b} }

func (b *bucket) ForEach(fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return b.tx.err
}

func (b *bucket) ForEachBucket(fn func(name []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			continue
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return b.tx.err
}

// errIncompatible is bbolt's answer to a value operation on a bucket.
var errIncompatible = errors.New("incompatible value")
