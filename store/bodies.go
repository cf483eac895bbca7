package store

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Bodies are kept by a bodyStore. On PostgreSQL (and any backend without
// a local file) they stay in the bodies bucket (kvBodies). On bbolt they
// are appended to segment files beside the database (segBodies,
// segment.go), and bbolt keeps only where each one is (bodyloc): a group
// commit writes its bodies to the segment, fdatasyncs it once, then
// commits bbolt, so bbolt never points at bytes that are not on disk, and
// its commit rewrites small records only.
//
// Either way the body's reference count is in bodyrefs and its cached
// parse in bodymeta; deleting a body (unrefBody) only touches the
// database, so it works inside any transaction.

var (
	// bucketBodyLoc maps a body id to its bodyLoc (segment.go).
	bucketBodyLoc = []byte("bodyloc")
	// bucketSegments maps a segment number (4 bytes BE) to the bytes and
	// records of it that bodyloc points at (8 + 8 bytes BE). A segment
	// file without an entry holds nothing referenced and is deleted.
	bucketSegments = []byte("segments")
)

// bodyStore writes and reads bodies inside the store's transactions.
type bodyStore interface {
	// put stores body under id within tx; it is durable once flush
	// returned and tx committed.
	put(tx kv.Tx, id uint64, body []byte) error
	// read appends body id to dst; mapped says it was read through the
	// database's mapping (maptrim.go).
	read(tx kv.Tx, id uint64, dst []byte) (out []byte, mapped bool, err error)
	// flush makes the bodies put so far durable; it runs before every
	// commit of a write transaction.
	flush() error
	close() error
}

// kvBodies keeps bodies in the bodies bucket.
type kvBodies struct{}

func (kvBodies) put(tx kv.Tx, id uint64, body []byte) error {
	return tx.Bucket(bucketBodies).Put(u64(id), body)
}

func (kvBodies) read(tx kv.Tx, id uint64, dst []byte) ([]byte, bool, error) {
	v := tx.Bucket(bucketBodies).Get(u64(id))
	if v == nil {
		return dst, false, fmt.Errorf("body %d %w", id, ErrNotFound)
	}
	return append(dst, v...), true, nil
}

func (kvBodies) flush() error { return nil }

// bucketBodyView is body id as the bodies bucket holds it, valid only
// inside tx, or nil when the body is in a segment (or missing). Readers
// that finish with a body inside the transaction (SEARCH) use it to
// avoid copying every body they scan.
func bucketBodyView(tx kv.Tx, id uint64) []byte {
	if locs := tx.Bucket(bucketBodyLoc); locs != nil && locs.Get(u64(id)) != nil {
		return nil
	}
	return tx.Bucket(bucketBodies).Get(u64(id))
}
func (kvBodies) close() error { return nil }

// segBodies keeps bodies in segment files; bodies written before the
// segments existed (or copied in from PostgreSQL) are read from the
// bodies bucket until they are moved (moveLegacyBodies).
type segBodies struct {
	// write puts new bodies into segments (Options.BodySegments); without
	// it they go to the bodies bucket, and segments are only read.
	write bool
	w     *segWriter
	files *segFiles
	// pin is held for reading by a backup while it reads bodies from an
	// old snapshot; a segment file is only deleted under the write lock.
	pin sync.RWMutex
}

func newSegBodies(dataDir string, write, noSync bool) *segBodies {
	dir := filepath.Join(dataDir, segDirName)
	return &segBodies{
		write: write,
		w:     &segWriter{dir: dir, max: defaultSegSize, noSync: noSync, nums: &segNumbers{next: 1}},
		files: newSegFiles(dir),
	}
}

func (b *segBodies) put(tx kv.Tx, id uint64, body []byte) error {
	if !b.write {
		return kvBodies{}.put(tx, id, body)
	}
	loc, err := b.w.append(id, body)
	if err != nil {
		return err
	}
	b.w.putInTx(loc.seg)
	return putBodyLocTx(tx, id, loc)
}

// writeAhead appends a body before its transaction, so the group commit
// holds bbolt's write lock only to record where it is (putBodyAt); the
// transaction's flush syncs it, once for the whole group.
func (b *segBodies) writeAhead(body []byte) (bodyLoc, error) {
	return b.w.append(0, body)
}

// putBodyLocTx records body id at loc and counts it in its segment.
func putBodyLocTx(tx kv.Tx, id uint64, loc bodyLoc) error {
	if err := tx.Bucket(bucketBodyLoc).Put(u64(id), loc.encode()); err != nil {
		return err
	}
	return addSegmentTx(tx, loc.seg, loc.recordSize(), 1)
}

// addSegmentTx adds bytes and records to a segment's live count,
// deleting the entry when nothing is left.
func addSegmentTx(tx kv.Tx, seg uint32, bytes, records int64) error {
	b := tx.Bucket(bucketSegments)
	key := u32(seg)
	var live, n int64
	if v := b.Get(key); len(v) == 16 {
		live, n = int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))
	}
	live, n = live+bytes, n+records
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(max(live, 0)))
	binary.BigEndian.PutUint64(v[8:], uint64(max(n, 0)))
	return b.Put(key, v)
}

func (b *segBodies) read(tx kv.Tx, id uint64, dst []byte) ([]byte, bool, error) {
	v := tx.Bucket(bucketBodyLoc).Get(u64(id))
	if v == nil {
		return kvBodies{}.read(tx, id, dst)
	}
	loc, err := decodeBodyLoc(v)
	if err != nil {
		return dst, false, fmt.Errorf("body %d: %w", id, err)
	}
	out, err := b.files.read(id, loc, dst)
	return out, false, err
}

func (b *segBodies) flush() error { return b.w.flush() }

func (b *segBodies) close() error {
	err := b.w.close()
	b.files.close()
	return err
}

// deleteBodyTx deletes a body's bytes within tx: its segment record (the
// bytes stay in the file until compaction) or its value in bodies.
func deleteBodyTx(tx kv.Tx, id uint64) error {
	if locs := tx.Bucket(bucketBodyLoc); locs != nil {
		if v := locs.Get(u64(id)); v != nil {
			loc, err := decodeBodyLoc(v)
			if err != nil {
				return fmt.Errorf("body %d: %w", id, err)
			}
			if err := locs.Delete(u64(id)); err != nil {
				return err
			}
			return addSegmentTx(tx, loc.seg, -loc.recordSize(), -1)
		}
	}
	return tx.Bucket(bucketBodies).Delete(u64(id))
}

// hasBodyTx reports whether body id exists.
func hasBodyTx(tx kv.Tx, id uint64) bool {
	if locs := tx.Bucket(bucketBodyLoc); locs != nil && locs.Get(u64(id)) != nil {
		return true
	}
	return tx.Bucket(bucketBodies).Get(u64(id)) != nil
}

// flushingDB runs the body store's flush at the end of every write
// transaction, just before it commits: the bodies a transaction wrote to
// segments are on disk before the records pointing at them are.
type flushingDB struct {
	kv.DB
	bodies bodyStore
}

func (d flushingDB) Update(fn func(kv.Tx) error) error {
	return d.DB.Update(func(tx kv.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return d.bodies.flush()
	})
}

func (d flushingDB) Batch(fn func(kv.Tx) error) error {
	// Batch may run several callers' fns in one transaction and commits
	// after the last; flushing after each one covers every body of it.
	return d.DB.Batch(func(tx kv.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return d.bodies.flush()
	})
}
