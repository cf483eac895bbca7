package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// startSegments prepares the segment files at open: it deletes those no
// record refers to (written by a group commit or a compaction that a
// crash cut short, or left by a restore) and numbers new segments after
// every existing one.
func (s *Store) startSegments() error {
	if s.segs == nil {
		return nil
	}
	live := map[uint32]bool{}
	var top uint32
	err := s.db.View(func(tx kv.Tx) error {
		return tx.Bucket(bucketSegments).ForEach(func(k, _ []byte) error {
			if len(k) == 4 {
				n := binary.BigEndian.Uint32(k)
				live[n], top = true, max(top, n)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("reading body segments: %w", err)
	}
	nums, err := listSegments(s.segs.w.dir)
	if err != nil {
		return fmt.Errorf("listing body segments: %w", err)
	}
	removed := 0
	for _, n := range nums {
		top = max(top, n)
		if live[n] {
			continue
		}
		if err := os.Remove(filepath.Join(s.segs.w.dir, segName(n))); err != nil {
			return fmt.Errorf("removing unreferenced body segment: %w", err)
		}
		removed++
	}
	if removed > 0 {
		syncDir(s.segs.w.dir)
		s.log.Info("removed body segments nothing refers to", "segments", removed)
	}
	s.segs.w.nums.next = top + 1
	return nil
}

// Moving bodies out of the bodies bucket: files written before segments
// existed, and stores copied from PostgreSQL, hold bodies in bbolt. They
// are read from there until a background pass moves them into segments,
// a bounded batch per transaction so submissions keep committing.
const (
	moveBatchBodies = 256
	moveBatchBytes  = 8 << 20
)

// startBodyMover moves legacy bodies in the background until none is
// left or the store closes.
func (s *Store) startBodyMover() {
	if s.segs == nil || !s.segs.write {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		total := 0
		start := time.Now()
		for {
			select {
			case <-s.junkDone:
				return
			default:
			}
			n, err := s.moveLegacyBodies(moveBatchBodies, moveBatchBytes)
			if err != nil {
				s.log.Error("moving bodies into segment files", "err", err)
				return
			}
			total += n
			if n == 0 {
				if total > 0 {
					s.log.Info("moved bodies into segment files", "bodies", total, "took", time.Since(start).Round(time.Millisecond))
				}
				return
			}
		}
	}()
}

// moveLegacyBodies moves up to max bodies (about maxBytes) from the
// bodies bucket into segments in one transaction and says how many.
func (s *Store) moveLegacyBodies(maxN, maxBytes int) (int, error) {
	// Most stores have none: look before taking the write lock (an empty
	// commit still writes).
	empty := true
	if err := s.db.View(func(tx kv.Tx) error {
		k, _ := tx.Bucket(bucketBodies).Cursor().First()
		empty = k == nil
		return nil
	}); err != nil || empty {
		return 0, err
	}
	moved := 0
	err := s.db.Update(func(tx kv.Tx) error {
		moved = 0
		bodies := tx.Bucket(bucketBodies)
		var keys [][]byte
		size := 0
		c := bodies.Cursor()
		for k, v := c.First(); k != nil && len(keys) < maxN && size < maxBytes; k, v = c.Next() {
			if v == nil || len(k) != 8 {
				continue
			}
			id := binary.BigEndian.Uint64(k)
			if err := s.segs.put(tx, id, v); err != nil { // write is on
				return err
			}
			keys = append(keys, append([]byte(nil), k...))
			size += len(v)
		}
		for _, k := range keys {
			if err := bodies.Delete(k); err != nil {
				return err
			}
		}
		moved = len(keys)
		return nil
	})
	return moved, err
}
