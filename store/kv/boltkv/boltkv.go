// Package boltkv implements store/kv on one bbolt file. The wrappers are
// pointer conversions of bbolt's own types, so they cost no allocation.
package boltkv

import (
	"errors"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/authsmtp/authsmtp/store/kv"
)

// DB is a bbolt database as a kv.DB; it also implements kv.File.
type DB struct{ db *bolt.DB }

var (
	_ kv.DB     = (*DB)(nil)
	_ kv.File   = (*DB)(nil)
	_ kv.Mapped = (*DB)(nil)
	_ kv.Tx     = (*tx)(nil)
	_ kv.Bucket = (*bucket)(nil)
	_ kv.Cursor = (*cursor)(nil)
)

// ErrTimeout is returned by Open when another process holds the file lock.
var ErrTimeout = berrors.ErrTimeout

// Options are bbolt's options.
type Options = bolt.Options

// FreelistMapType is bbolt's hashmap freelist.
const FreelistMapType = bolt.FreelistMapType

// Open opens (creating if needed) the bbolt file at path.
func Open(path string, opts *Options) (*DB, error) {
	db, err := bolt.Open(path, 0o600, opts)
	if err != nil {
		return nil, err
	}
	return &DB{db: db}, nil
}

// Wrap makes a kv.DB of an open bbolt database.
func Wrap(db *bolt.DB) *DB { return &DB{db: db} }

// Bolt is the underlying database.
func (d *DB) Bolt() *bolt.DB { return d.db }

func (d *DB) View(fn func(kv.Tx) error) error {
	return d.db.View(func(t *bolt.Tx) error { return fn((*tx)(t)) })
}

func (d *DB) Update(fn func(kv.Tx) error) error {
	return d.db.Update(func(t *bolt.Tx) error { return fn((*tx)(t)) })
}

func (d *DB) Batch(fn func(kv.Tx) error) error {
	return d.db.Batch(func(t *bolt.Tx) error { return fn((*tx)(t)) })
}

func (d *DB) Close() error { return d.db.Close() }
func (d *DB) Path() string { return d.db.Path() }
func (d *DB) Sync() error  { return d.db.Sync() }

// Check runs bbolt's consistency check.
func (d *DB) Check() error {
	return d.db.View(func(t *bolt.Tx) error {
		for err := range t.Check() {
			return fmt.Errorf("database check: %w", err)
		}
		return nil
	})
}

// WriteTo writes a consistent copy of the file from one read transaction.
func (d *DB) WriteTo(w io.Writer) (int64, error) {
	var n int64
	err := d.db.View(func(t *bolt.Tx) error {
		var err error
		n, err = t.WriteTo(w)
		return err
	})
	return n, err
}

// Mapping is the address of bbolt's mapping and the size tx uses.
func (d *DB) Mapping(t kv.Tx) (addr, size uintptr) {
	return d.db.Info().Data, uintptr(t.(*tx).b().Size())
}

type tx bolt.Tx

func (t *tx) b() *bolt.Tx { return (*bolt.Tx)(t) }

func (t *tx) Bucket(name []byte) kv.Bucket { return wrapBucket(t.b().Bucket(name)) }

func (t *tx) CreateBucket(name []byte) (kv.Bucket, error) {
	b, err := t.b().CreateBucket(name)
	return wrapBucket(b), convErr(err)
}

func (t *tx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	b, err := t.b().CreateBucketIfNotExists(name)
	return wrapBucket(b), convErr(err)
}

func (t *tx) DeleteBucket(name []byte) error { return convErr(t.b().DeleteBucket(name)) }
func (t *tx) Writable() bool                 { return t.b().Writable() }
func (t *tx) Cursor() kv.Cursor              { return (*cursor)(t.b().Cursor()) }

type bucket bolt.Bucket

// wrapBucket keeps a missing bucket a nil interface.
func wrapBucket(b *bolt.Bucket) kv.Bucket {
	if b == nil {
		return nil
	}
	return (*bucket)(b)
}

func (b *bucket) b() *bolt.Bucket             { return (*bolt.Bucket)(b) }
func (b *bucket) Get(key []byte) []byte       { return b.b().Get(key) }
func (b *bucket) Put(key, value []byte) error { return convErr(b.b().Put(key, value)) }
func (b *bucket) Delete(key []byte) error     { return convErr(b.b().Delete(key)) }
func (b *bucket) Cursor() kv.Cursor           { return (*cursor)(b.b().Cursor()) }
func (b *bucket) Bucket(name []byte) kv.Bucket {
	return wrapBucket(b.b().Bucket(name))
}
func (b *bucket) ForEach(fn func(k, v []byte) error) error { return b.b().ForEach(fn) }
func (b *bucket) ForEachBucket(fn func(name []byte) error) error {
	return b.b().ForEachBucket(fn)
}

func (b *bucket) CreateBucket(name []byte) (kv.Bucket, error) {
	nb, err := b.b().CreateBucket(name)
	return wrapBucket(nb), convErr(err)
}

func (b *bucket) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	nb, err := b.b().CreateBucketIfNotExists(name)
	return wrapBucket(nb), convErr(err)
}

func (b *bucket) DeleteBucket(name []byte) error { return convErr(b.b().DeleteBucket(name)) }
func (b *bucket) NextSequence() (uint64, error)  { return b.b().NextSequence() }
func (b *bucket) KeyN() int                      { return b.b().Stats().KeyN }

type cursor bolt.Cursor

func (c *cursor) c() *bolt.Cursor                { return (*bolt.Cursor)(c) }
func (c *cursor) First() ([]byte, []byte)        { return c.c().First() }
func (c *cursor) Last() ([]byte, []byte)         { return c.c().Last() }
func (c *cursor) Seek(k []byte) ([]byte, []byte) { return c.c().Seek(k) }
func (c *cursor) Next() ([]byte, []byte)         { return c.c().Next() }
func (c *cursor) Prev() ([]byte, []byte)         { return c.c().Prev() }
func (c *cursor) Delete() error                  { return convErr(c.c().Delete()) }

// convErr maps bbolt's errors to kv's where they mean the same.
func convErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrBucketNotFound):
		return kv.ErrBucketNotFound
	case errors.Is(err, berrors.ErrBucketExists):
		return kv.ErrBucketExists
	case errors.Is(err, berrors.ErrTxNotWritable):
		return kv.ErrTxNotWritable
	}
	return err
}
