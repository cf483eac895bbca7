// Package kv is the small transactional key-value seam under package store:
// the subset of bbolt's API that store (and store/junk) use, as interfaces,
// so the store's rules (auth, the send rule, UIDs, body reference counts)
// are written once and run on any backend that implements them.
//
// Two backends implement it: store/kv/boltkv (one bbolt file, the default)
// and store/kv/pgkv (PostgreSQL, shared by several nodes).
//
// # The model
//
// A database holds top-level buckets; a bucket holds keys with values and
// nested buckets. Keys are ordered bytewise. A nested bucket shows in its
// parent's cursor and ForEach as a key with a nil value.
//
// # Contracts every backend keeps
//
//   - Update runs fn in a serializable read-write transaction and commits
//     it durably before returning nil. fn may run more than once (a
//     backend retries on a serialization failure, a group commit re-runs a
//     call alone), so fn must have no effect outside the transaction: set
//     outer variables, never append to them.
//   - View runs fn in a read-only transaction over one consistent snapshot.
//   - A missing bucket is a nil Bucket interface, never a typed nil.
//   - A read that fails (the database went away) cannot be reported by Get
//     or a cursor; the backend remembers the error and Update or View
//     returns it, whatever fn returned.
//   - Slices returned by Get and cursors are valid until the transaction
//     ends; callers copy what they keep.
package kv

import (
	"errors"
	"io"
)

// DB is a transactional key-value database.
type DB interface {
	// View runs fn in a read-only transaction.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits it.
	Update(fn func(Tx) error) error
	// Batch is Update for many small concurrent writers: a backend may
	// run several calls in one transaction (bbolt's Batch), so fn may run
	// more than once.
	Batch(fn func(Tx) error) error
	// Close releases the database.
	Close() error
}

// Tx is one transaction.
type Tx interface {
	// Bucket returns a top-level bucket, or nil if it does not exist.
	Bucket(name []byte) Bucket
	CreateBucket(name []byte) (Bucket, error)
	CreateBucketIfNotExists(name []byte) (Bucket, error)
	DeleteBucket(name []byte) error
	// Cursor walks the names of the top-level buckets (nil values).
	Cursor() Cursor
	// Writable reports whether the transaction may write.
	Writable() bool
}

// Bucket is a set of ordered keys with values, and of nested buckets.
type Bucket interface {
	// Get returns the value of key, nil if absent or a nested bucket.
	Get(key []byte) []byte
	Put(key, value []byte) error
	Delete(key []byte) error
	Cursor() Cursor
	// ForEach calls fn for every key in order; v is nil for a nested
	// bucket. fn must not change the bucket.
	ForEach(fn func(k, v []byte) error) error
	// ForEachBucket calls fn for the name of every nested bucket.
	ForEachBucket(fn func(name []byte) error) error
	// Bucket returns a nested bucket, or nil if it does not exist.
	Bucket(name []byte) Bucket
	CreateBucket(name []byte) (Bucket, error)
	CreateBucketIfNotExists(name []byte) (Bucket, error)
	DeleteBucket(name []byte) error
	// NextSequence returns a new number, larger than any this bucket
	// gave before (not necessarily the next integer).
	NextSequence() (uint64, error)
	// KeyN counts the keys of a bucket that holds no nested buckets.
	KeyN() int
}

// Cursor walks a bucket's keys in order. Each method returns the key and
// value it lands on; a nil key means it ran off the end.
type Cursor interface {
	First() (key, value []byte)
	Last() (key, value []byte)
	// Seek lands on the first key >= seek.
	Seek(seek []byte) (key, value []byte)
	Next() (key, value []byte)
	Prev() (key, value []byte)
	// Delete removes the key the cursor is on.
	Delete() error
}

// Errors a backend returns, whatever its own.
var (
	ErrBucketNotFound = errors.New("bucket not found")
	ErrBucketExists   = errors.New("bucket already exists")
	ErrTxNotWritable  = errors.New("transaction not writable")
)

// IDs is implemented by the transactions of a backend with a counter that concurrent writers
// share without conflicting (a PostgreSQL sequence). The store takes its
// message and queue ids from it when present, instead of a key it reads
// and writes in every transaction.
type IDs interface {
	// NextID returns a new id, larger than any given before.
	NextID() (uint64, error)
	// LastID is the largest id given so far (for copying a store).
	LastID() (uint64, error)
	// EnsureID makes later ids larger than n.
	EnsureID(n uint64) error
}

// File is implemented by a backend that keeps everything in one local file
// (bbolt): what only a file has, reachable where the store needs it.
type File interface {
	// Path is the file's path.
	Path() string
	// Sync flushes the file to disk.
	Sync() error
	// Check runs the backend's consistency check over the whole file.
	Check() error
	// WriteTo writes a consistent copy of the file (one snapshot).
	WriteTo(w io.Writer) (int64, error)
}

// Mapped is implemented by a backend that reads its file through a
// memory mapping (bbolt): the store trims the mapping's resident pages.
type Mapped interface {
	// Mapping is the mapping's address and the size in use by tx (stable
	// while tx is open).
	Mapping(tx Tx) (addr, size uintptr)
}

// Getter is implemented by the buckets of a backend that reads several
// keys in one go faster than one by one (PostgreSQL: one round trip).
type Getter interface {
	// GetMany returns the value of each key (nil if absent or a nested
	// bucket), in the order of keys.
	GetMany(keys [][]byte) [][]byte
}

// GetMany reads keys from b, through Getter when b has it. The values
// are valid until the transaction ends, as Get's.
func GetMany(b Bucket, keys [][]byte) [][]byte {
	if g, ok := b.(Getter); ok {
		return g.GetMany(keys)
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = b.Get(k)
	}
	return out
}
