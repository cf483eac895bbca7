package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Schema versions and migrations.
//
// meta "schema" holds the layout version a file was written with. A newer
// binary upgrades an older file at Open: it first writes a whole copy of
// the file beside it (authsmtp.db.schema-<old>-backup-<time>), then runs
// every migration from the file's version to SchemaVersion in ONE write
// transaction, so a crash or a failing step leaves the old file as it was.
// An older binary refuses a newer file (see Store.init).
//
// Versions:
//
//	0  the first layout, before the schema key existed: bodies were shared
//	   by mailbox messages and queue entries without a reference count,
//	   and there was no sessions bucket.
//	1  bodyrefs counts the references to each body; sessions bucket.
//	2  on a local file, bodies may live in segment files beside it
//	   (bodyloc, segments; bodies.go). Nothing is rewritten: bodies
//	   still in the bodies bucket are read from there and moved into
//	   segments in the background (bodies_move.go). An older binary
//	   would not find them, hence the new version.

// migration upgrades a file from version To-1 to To inside tx.
type migration struct {
	To   int
	What string
	Run  func(tx kv.Tx) error
}

// migrations lists every step in order. It is a constant table, never
// changed at run time.
var migrations = []migration{
	{To: 1, What: "count body references", Run: migrateCountBodyRefs},
	{To: 2, What: "bodies in segment files", Run: func(kv.Tx) error { return nil }},
}

// fileSchema reads the schema version of an open file. fresh is true for
// a new, empty file.
func fileSchema(tx kv.Tx) (n int, fresh bool, err error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, true, nil
	}
	v := meta.Get([]byte("schema"))
	if v == nil {
		// Version 0 files had a meta bucket but no schema key.
		return 0, false, nil
	}
	n, err = strconv.Atoi(string(v))
	if err != nil {
		return 0, false, fmt.Errorf("reading schema version %q: %w", v, err)
	}
	return n, false, nil
}

// migrate brings an older file up to SchemaVersion. It does nothing for a
// new file, a current one, or a newer one (init refuses that).
func (s *Store) migrate() error {
	var from int
	var fresh bool
	if err := s.db.View(func(tx kv.Tx) error {
		var err error
		from, fresh, err = fileSchema(tx)
		return err
	}); err != nil {
		return err
	}
	if fresh || from >= SchemaVersion {
		return nil
	}
	backup := "(none: no local file)"
	if s.file() != nil {
		backup = fmt.Sprintf("%s.schema-%d-backup-%s", s.Path(), from, time.Now().UTC().Format("20060102T150405Z"))
		if _, err := s.backupFile(backup, false, true); err != nil {
			return fmt.Errorf("backing up before upgrading the database from schema %d: %w", from, err)
		}
	}
	s.log.Info("upgrading the database", "from_schema", from, "to_schema", SchemaVersion, "backup", backup)
	err := s.db.Update(func(tx kv.Tx) error {
		for _, m := range migrations {
			if m.To <= from {
				continue
			}
			if err := m.Run(tx); err != nil {
				return fmt.Errorf("migrating to schema %d (%s): %w", m.To, m.What, err)
			}
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return meta.Put([]byte("schema"), []byte(strconv.Itoa(SchemaVersion)))
	})
	if err != nil {
		return fmt.Errorf("upgrading the database (unchanged; a copy is at %s): %w", backup, err)
	}
	return nil
}

// migrateCountBodyRefs (0 → 1) builds bodyrefs from the mailbox messages
// and queue entries that point at each body, and drops bodies nothing
// points at.
func migrateCountBodyRefs(tx kv.Tx) error {
	for _, name := range [][]byte{bucketBodies, bucketBodyRefs, bucketSessions, bucketMessages, bucketQueue} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	refs := map[uint64]uint32{}
	msgs := tx.Bucket(bucketMessages)
	err := msgs.ForEachBucket(func(mbox []byte) error {
		return msgs.Bucket(mbox).ForEach(func(k, v []byte) error {
			h, err := decodeHead(v)
			if err != nil {
				return fmt.Errorf("reading message %x/%x: %w", mbox, k, err)
			}
			refs[h.bodyID]++
			return nil
		})
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketQueue).ForEach(func(k, v []byte) error {
		var q QueueEntry
		if err := json.Unmarshal(v, &q); err != nil {
			return fmt.Errorf("reading queue entry %s: %w", k, err)
		}
		refs[q.BodyID]++
		return nil
	})
	if err != nil {
		return err
	}
	bodies, counts := tx.Bucket(bucketBodies), tx.Bucket(bucketBodyRefs)
	var orphans [][]byte
	err = bodies.ForEach(func(k, _ []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("bad body key %x", k)
		}
		n := refs[binary.BigEndian.Uint64(k)]
		if n == 0 {
			orphans = append(orphans, append([]byte(nil), k...))
			return nil
		}
		return counts.Put(append([]byte(nil), k...), u32(n))
	})
	if err != nil {
		return err
	}
	for _, k := range orphans {
		if err := bodies.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
