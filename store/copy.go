package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
	"github.com/authsmtp/authsmtp/store/kv/boltkv"
	"github.com/authsmtp/authsmtp/store/kv/pgkv"
)

// Copying a whole store between backends (authsmtp store copy) works at
// the kv level: every bucket, nested bucket and key of the source, read
// in one snapshot, written to the target in transactions of a bounded
// size. The ids (kv.IDs or meta "seq") are carried over so the target
// never hands out an id the source already used. No server may write to
// either side meanwhile (the bbolt file lock sees to it on that side).

// ErrTargetNotEmpty is CopyStore's refusal of a target that holds data.
var ErrTargetNotEmpty = errors.New("the target store is not empty (give --force to replace what it holds)")

// StoreCopyProgress is reported while copying: keys written of about Total.
type StoreCopyProgress struct {
	Done, Total int
	Bucket      string
}

// StoreCopyResult counts what was copied, and what a second walk found on
// each side afterwards (they match on success).
type StoreCopyResult struct {
	Keys, Bytes              int64
	SourceKeys, TargetKeys   int64
	SourceBytes, TargetBytes int64
}

// OpenKV opens the raw database a --store value (or a bbolt file path)
// names, for CopyStore: a postgres:// URL, or a bbolt file (a directory means
// its authsmtp.db). create allows a new bbolt file.
func OpenKV(spec string, create bool) (kv.DB, error) {
	if IsPostgres(spec) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// A copy reads in one long transaction.
		db, err := pgkv.Open(ctx, spec, pgkv.Options{TxTimeout: 24 * time.Hour})
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", RedactSpec(spec), err)
		}
		return db, nil
	}
	path := spec
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, DBFile)
	} else if err != nil && !create {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db, err := boltkv.Open(path, &boltkv.Options{Timeout: 2 * time.Second, FreelistType: boltkv.FreelistMapType})
	if err != nil {
		if errors.Is(err, boltkv.ErrTimeout) {
			return nil, fmt.Errorf("opening %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return db, nil
}

// copyBatch bounds one target transaction.
const (
	copyBatchKeys  = 2000
	copyBatchBytes = 16 << 20
)

// CopyStore copies every bucket of src into dst. A dst holding any key is
// refused unless force, which deletes what dst holds first. Bodies a
// bbolt src keeps in segment files (bodies.go) are written into dst's
// bodies bucket: on PostgreSQL that is where they live, and a bbolt dst
// moves them into its own segments when it is opened.
func CopyStore(src, dst kv.DB, force bool, progress func(StoreCopyProgress)) (StoreCopyResult, error) {
	var segs *segFiles
	if f, ok := src.(kv.File); ok {
		segs = newSegFiles(filepath.Join(filepath.Dir(f.Path()), segDirName))
		defer segs.close()
	}
	return copyStore(src, dst, segs, force, false, progress)
}

// copyStore is CopyStore, reading the bodies of src's bodyloc from segs.
// live says src has writers (a backup): the target is then checked
// against what was copied, not against a second walk of src.
func copyStore(src, dst kv.DB, segs *segFiles, force, live bool, progress func(StoreCopyProgress)) (StoreCopyResult, error) {
	var res StoreCopyResult
	if progress == nil {
		progress = func(StoreCopyProgress) {}
	}
	roots, err := rootNames(dst)
	if err != nil {
		return res, fmt.Errorf("reading the target: %w", err)
	}
	if len(roots) > 0 {
		if !force {
			return res, ErrTargetNotEmpty
		}
		err := dst.Update(func(tx kv.Tx) error {
			for _, name := range roots {
				if err := tx.DeleteBucket(name); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("emptying the target: %w", err)
		}
	}
	w := &copyWriter{dst: dst}
	var lastID uint64
	err = src.View(func(tx kv.Tx) error {
		total := 0
		names := [][]byte{}
		c := tx.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			names = append(names, append([]byte(nil), k...))
			total += tx.Bucket(k).KeyN()
		}
		for _, name := range names {
			w.progress = func(done int) { progress(StoreCopyProgress{Done: done, Total: max(total, done), Bucket: string(name)}) }
			switch {
			case string(name) == string(bucketSegments):
				continue // where bodies are in this file only
			case string(name) == string(bucketBodyLoc):
				if err := w.segmentBodies(tx.Bucket(name), segs); err != nil {
					return err
				}
				continue
			}
			if err := w.bucket(tx.Bucket(name), [][]byte{name}); err != nil {
				return err
			}
		}
		lastID = lastIDTx(tx)
		return nil
	})
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		return res, fmt.Errorf("copying: %w (the target holds part of the store: run the copy again with --force)", err)
	}
	res.Keys, res.Bytes = w.keys, w.bytes
	res.SourceKeys, res.SourceBytes = res.Keys, res.Bytes
	if !live {
		res.SourceKeys, res.SourceBytes, err = countAll(src)
	}
	if err == nil {
		res.TargetKeys, res.TargetBytes, err = countAll(dst)
	}
	if err != nil {
		return res, fmt.Errorf("verifying: %w", err)
	}
	if res.SourceKeys != res.TargetKeys || res.SourceBytes != res.TargetBytes {
		return res, fmt.Errorf("verifying: the source holds %d keys (%d bytes), the target %d (%d bytes)", res.SourceKeys, res.SourceBytes, res.TargetKeys, res.TargetBytes)
	}
	// After the count: on bbolt this may add meta "seq".
	err = dst.Update(func(tx kv.Tx) error { return ensureIDTx(tx, lastID) })
	if err != nil {
		return res, fmt.Errorf("copying the id counter: %w", err)
	}
	return res, nil
}

func rootNames(db kv.DB) ([][]byte, error) {
	var names [][]byte
	err := db.View(func(tx kv.Tx) error {
		names = nil
		c := tx.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			names = append(names, append([]byte(nil), k...))
		}
		return nil
	})
	return names, err
}

// lastIDTx is the largest id the store gave out.
func lastIDTx(tx kv.Tx) uint64 {
	var n uint64
	if ids, ok := tx.(kv.IDs); ok {
		n, _ = ids.LastID()
	}
	if b := tx.Bucket(bucketMeta); b != nil {
		if v := b.Get([]byte("seq")); len(v) == 8 {
			n = max(n, binary.BigEndian.Uint64(v))
		}
	}
	return n
}

// ensureIDTx makes the store's later ids larger than n.
func ensureIDTx(tx kv.Tx, n uint64) error {
	if ids, ok := tx.(kv.IDs); ok {
		return ids.EnsureID(n)
	}
	b, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	if v := b.Get([]byte("seq")); len(v) == 8 && binary.BigEndian.Uint64(v) >= n {
		return nil
	}
	return b.Put([]byte("seq"), u64(n))
}

// segmentBodies copies the bodies locs points at into dst's bodies
// bucket.
func (w *copyWriter) segmentBodies(locs kv.Bucket, segs *segFiles) error {
	if segs == nil {
		return errors.New("the source keeps bodies in segment files, but is not a local file")
	}
	c := locs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return fmt.Errorf("bad body key %x", k)
		}
		loc, err := decodeBodyLoc(v)
		if err != nil {
			return err
		}
		body, err := segs.read(binary.BigEndian.Uint64(k), loc, nil)
		if err != nil {
			return err
		}
		if err := w.add(copyOp{path: [][]byte{bucketBodies}, key: append([]byte(nil), k...), value: body}); err != nil {
			return err
		}
	}
	return nil
}

// countAll walks every key of db: how many, and their values' bytes. A
// body in a segment counts as the bodies key a copy makes of it.
func countAll(db kv.DB) (keys, bytes int64, err error) {
	var walk func(b kv.Bucket)
	walk = func(b kv.Bucket) {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			keys++
			if v == nil {
				if nb := b.Bucket(k); nb != nil {
					walk(nb)
				}
				continue
			}
			bytes += int64(len(v))
		}
	}
	err = db.View(func(tx kv.Tx) error {
		keys, bytes = 0, 0
		c := tx.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			switch string(k) {
			case string(bucketSegments):
				continue
			case string(bucketBodyLoc):
				err := tx.Bucket(k).ForEach(func(_, v []byte) error {
					loc, err := decodeBodyLoc(v)
					keys, bytes = keys+1, bytes+int64(loc.len)
					return err
				})
				if err != nil {
					return err
				}
				continue
			}
			keys++
			walk(tx.Bucket(k))
		}
		return nil
	})
	return keys, bytes, err
}

// copyWriter buffers writes to the target and commits them in batches.
type copyWriter struct {
	dst      kv.DB
	ops      []copyOp
	size     int
	keys     int64
	bytes    int64
	done     int
	progress func(done int)
}

type copyOp struct {
	path       [][]byte // the bucket's names from the top
	key, value []byte   // value nil: create the nested bucket key
}

// bucket copies b (at path) and everything under it.
func (w *copyWriter) bucket(b kv.Bucket, path [][]byte) error {
	if err := w.add(copyOp{path: path[:len(path)-1], key: path[len(path)-1]}); err != nil {
		return err
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		k := append([]byte(nil), k...)
		if v == nil {
			nb := b.Bucket(k)
			if nb == nil {
				continue
			}
			if err := w.bucket(nb, append(path[:len(path):len(path)], k)); err != nil {
				return err
			}
			continue
		}
		if err := w.add(copyOp{path: path, key: k, value: append([]byte{}, v...)}); err != nil {
			return err
		}
	}
	return nil
}

func (w *copyWriter) add(op copyOp) error {
	w.ops = append(w.ops, op)
	w.size += len(op.key) + len(op.value)
	if len(w.ops) >= copyBatchKeys || w.size >= copyBatchBytes {
		return w.flush()
	}
	return nil
}

// flush commits the buffered writes in one transaction (re-runnable: it
// only reads w.ops).
func (w *copyWriter) flush() error {
	if len(w.ops) == 0 {
		return nil
	}
	err := w.dst.Update(func(tx kv.Tx) error {
		open := map[string]kv.Bucket{}
		get := func(path [][]byte) (kv.Bucket, error) {
			var b kv.Bucket
			var key []byte
			for i, name := range path {
				key = binary.AppendUvarint(key, uint64(len(name)))
				key = append(key, name...)
				if ob, ok := open[string(key)]; ok {
					b = ob
					continue
				}
				var err error
				if i == 0 {
					b, err = tx.CreateBucketIfNotExists(name)
				} else {
					b, err = b.CreateBucketIfNotExists(name)
				}
				if err != nil {
					return nil, err
				}
				open[string(key)] = b
			}
			return b, nil
		}
		for _, op := range w.ops {
			if op.value == nil {
				if _, err := get(append(op.path[:len(op.path):len(op.path)], op.key)); err != nil {
					return err
				}
				continue
			}
			b, err := get(op.path)
			if err != nil {
				return err
			}
			if err := b.Put(op.key, op.value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, op := range w.ops {
		w.keys++
		w.bytes += int64(len(op.value))
	}
	w.done += len(w.ops)
	if w.progress != nil {
		w.progress(w.done)
	}
	w.ops, w.size = w.ops[:0], 0
	return nil
}
