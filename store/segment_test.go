package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
	"github.com/authsmtp/authsmtp/store/kv/boltkv"
)

// segTestStore opens a bbolt store in dir with one user, jane@seg.test.
func segTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	st, err := Open(dir, Options{BodySegments: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.AddDomain("seg.test"); err != nil && !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	if _, err := st.AddUser("jane@seg.test", "Usr-pass-k9W!q"); err != nil && !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	return st
}

func segBody(i, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <john@seg.test>\r\nTo: <jane@seg.test>\r\nSubject: body %d\r\n\r\n", i)
	for b.Len() < size {
		fmt.Fprintf(&b, "line of body %d at %d\r\n", i, b.Len())
	}
	return b.Bytes()
}

// acceptN accepts n messages to jane's INBOX and returns their bodies by
// UID.
func acceptN(t *testing.T, st *Store, from, n int) map[uint32][]byte {
	t.Helper()
	out := map[uint32][]byte{}
	for i := from; i < from+n; i++ {
		body := segBody(i, 200+i*97%20000)
		res, err := st.Accept(&Incoming{From: "john@seg.test", Body: body, Local: []LocalRcpt{{Address: "jane@seg.test"}}})
		if err != nil {
			t.Fatal(err)
		}
		out[res.Local[0].UID] = body
	}
	return out
}

// checkBodies reads every message of want back through GetMessage and
// FetchMessages and compares it byte for byte.
func checkBodies(t *testing.T, st *Store, want map[uint32][]byte) {
	t.Helper()
	var uids []uint32
	for uid, body := range want {
		uids = append(uids, uid)
		_, got, err := st.GetMessage("jane@seg.test", "INBOX", uid)
		if err != nil {
			t.Fatalf("message %d: %v", uid, err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("message %d: read %d bytes, want %d", uid, len(got), len(body))
		}
	}
	n := 0
	err := st.FetchMessages("jane@seg.test", "INBOX", uids, true, func(it *FetchItem) error {
		n++
		if !bytes.Equal(it.Body, want[it.Message.UID]) {
			return fmt.Errorf("fetch %d: body differs", it.Message.UID)
		}
		return nil
	})
	if err != nil || n != len(want) {
		t.Fatalf("fetch: %d of %d, %v", n, len(want), err)
	}
}

// bucketLen counts a bucket's keys.
func bucketLen(t *testing.T, st *Store, name []byte) int {
	t.Helper()
	n := 0
	st.db.View(func(tx kv.Tx) error {
		if b := tx.Bucket(name); b != nil {
			n = b.KeyN()
		}
		return nil
	})
	return n
}

// TestSegmentBodies: on bbolt, accepted bodies go to segment files, not
// to the bodies bucket, and read back byte-exact before and after a
// reopen; deleted ones are uncounted from their segment.
func TestSegmentBodies(t *testing.T) {
	dir := t.TempDir()
	st := segTestStore(t, dir)
	want := acceptN(t, st, 0, 40)
	if n := bucketLen(t, st, bucketBodies); n != 0 {
		t.Fatalf("%d bodies in the bodies bucket, want 0", n)
	}
	if n := bucketLen(t, st, bucketBodyLoc); n != 40 {
		t.Fatalf("%d body locations, want 40", n)
	}
	segs, err := listSegments(filepath.Join(dir, segDirName))
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	checkBodies(t, st, want)
	st.Close()

	st = segTestStore(t, dir)
	checkBodies(t, st, want)
	more := acceptN(t, st, 40, 5)
	if segs, _ := listSegments(filepath.Join(dir, segDirName)); len(segs) != 2 {
		t.Fatalf("a reopened store appends to a new segment: %v", segs)
	}
	for uid, b := range more {
		want[uid] = b
	}
	checkBodies(t, st, want)

	// Expunge half: the segments' live counts drop by their records.
	var gone []uint32
	for uid := range want {
		if uid%2 == 0 {
			gone = append(gone, uid)
		}
	}
	if _, err := st.Expunge("jane@seg.test", "INBOX", gone); err != nil {
		t.Fatal(err)
	}
	for _, uid := range gone {
		delete(want, uid)
	}
	var records int64
	st.db.View(func(tx kv.Tx) error {
		return tx.Bucket(bucketSegments).ForEach(func(k, v []byte) error {
			records += int64(beUint64(v[8:]))
			return nil
		})
	})
	if records != int64(len(want)) || bucketLen(t, st, bucketBodyLoc) != len(want) {
		t.Fatalf("segments count %d records, %d locations, want %d", records, bucketLen(t, st, bucketBodyLoc), len(want))
	}
	checkBodies(t, st, want)
}

func beUint64(b []byte) uint64 {
	var n uint64
	for _, c := range b[:8] {
		n = n<<8 | uint64(c)
	}
	return n
}

// TestSegmentTornTail: a crash can leave the last segment with a record
// cut short, or with garbage after the last sound one. Nothing points at
// those bytes: after a reopen every acknowledged body reads back, new
// mail goes to a new segment, and a file no record refers to (a group
// that never committed) is deleted.
func TestSegmentTornTail(t *testing.T) {
	dir := t.TempDir()
	st := segTestStore(t, dir)
	want := acceptN(t, st, 0, 20)
	st.Close()
	segDir := filepath.Join(dir, segDirName)
	segs, _ := listSegments(segDir)
	last := filepath.Join(segDir, segName(segs[len(segs)-1]))
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Half a record: a sound header, half the body it announces.
	var h [recordHeader]byte
	putRecordHeader(h[:], 999, segBody(999, 4000))
	f.Write(h[:])
	f.Write(segBody(999, 4000)[:2000])
	f.Close()
	// A segment of a group that crashed before its commit.
	orphan, err := createSegment(segDir, segs[len(segs)-1]+1, true)
	if err != nil {
		t.Fatal(err)
	}
	orphan.Write([]byte("torn"))
	orphan.Close()

	st = segTestStore(t, dir)
	checkBodies(t, st, want)
	if _, err := os.Stat(orphan.Name()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the unreferenced segment is still there: %v", err)
	}
	more := acceptN(t, st, 20, 10)
	for uid, b := range more {
		want[uid] = b
	}
	checkBodies(t, st, want)
	st.Close()
	st = segTestStore(t, dir)
	checkBodies(t, st, want)
}

// TestSegmentDamageIsAnError: a body whose bytes changed on disk is
// refused with an error, never returned.
func TestSegmentDamageIsAnError(t *testing.T) {
	dir := t.TempDir()
	st := segTestStore(t, dir)
	want := acceptN(t, st, 0, 3)
	var uid uint32
	for uid = range want {
		break
	}
	m, _, err := st.GetMessage("jane@seg.test", "INBOX", uid)
	if err != nil {
		t.Fatal(err)
	}
	var loc bodyLoc
	st.db.View(func(tx kv.Tx) error {
		loc, err = decodeBodyLoc(tx.Bucket(bucketBodyLoc).Get(u64(m.BodyID)))
		return err
	})
	f, err := os.OpenFile(filepath.Join(dir, segDirName, segName(loc.seg)), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("X"), loc.off+recordHeader+int64(loc.len)/2)
	f.Close()
	if _, err := st.Body(m.BodyID); !errors.Is(err, errBadSegRecord) {
		t.Fatalf("reading a damaged body: %v, want errBadSegRecord", err)
	}
}

// TestLegacyBodiesMoved: bodies in the bodies bucket (a file of schema 1,
// or one copied from PostgreSQL) read back at once and are moved into
// segments in the background, in bounded batches.
func TestLegacyBodiesMoved(t *testing.T) {
	dir := t.TempDir()
	st := segTestStore(t, dir)
	// Write bodies the old way, as schema 1 did.
	want := map[uint32][]byte{}
	for i := 0; i < 600; i++ {
		body := segBody(i, 300)
		err := st.db.Update(func(tx kv.Tx) error {
			id := nextSeq(tx)
			if err := (kvBodies{}).put(tx, id, body); err != nil {
				return err
			}
			tx.Bucket(bucketBodyRefs).Put(u64(id), u32(1))
			m, err := appendTx(tx, "jane@seg.test", "INBOX", id, int64(len(body)), nil, time.Now(), 0)
			want[m.UID] = body
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	st = segTestStore(t, dir)
	checkBodies(t, st, want) // from either place, while the mover runs
	st.Close()               // waits for the mover
	db, err := boltkv.Open(filepath.Join(dir, DBFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	var left, moved int
	db.View(func(tx kv.Tx) error {
		left, moved = tx.Bucket(bucketBodies).KeyN(), tx.Bucket(bucketBodyLoc).KeyN()
		return nil
	})
	db.Close()
	st = segTestStore(t, dir)
	checkBodies(t, st, want)
	st.Close()
	if left+moved != 600 || moved == 0 {
		t.Fatalf("after the first open: %d bodies left in the bucket, %d moved", left, moved)
	}
	db, err = boltkv.Open(filepath.Join(dir, DBFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx kv.Tx) error {
		left, moved = tx.Bucket(bucketBodies).KeyN(), tx.Bucket(bucketBodyLoc).KeyN()
		return nil
	})
	if left != 0 || moved != 600 {
		t.Fatalf("after the second open: %d bodies left in the bucket, %d moved", left, moved)
	}
}

// TestSegmentBackupIsOneFile: a backup of a store whose bodies are in
// segments holds the bodies itself: restored into an empty data
// directory, every body reads back; restored over a directory with
// segments, those are kept aside with the old database.
func TestSegmentBackupIsOneFile(t *testing.T) {
	dir := t.TempDir()
	st := segTestStore(t, dir)
	want := acceptN(t, st, 0, 30)
	bk := filepath.Join(t.TempDir(), "backup.db")
	if _, err := st.BackupFile(bk); err != nil {
		t.Fatal(err)
	}
	db, err := boltkv.Open(bk, &boltkv.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var inBucket int
	var locs kv.Bucket
	db.View(func(tx kv.Tx) error {
		inBucket, locs = tx.Bucket(bucketBodies).KeyN(), tx.Bucket(bucketBodyLoc)
		return nil
	})
	db.Close()
	if inBucket != 30 || locs != nil {
		t.Fatalf("backup holds %d bodies in its bucket (want 30), bodyloc %v", inBucket, locs != nil)
	}
	st.Close()

	fresh := t.TempDir()
	if _, _, err := Restore(fresh, bk); err != nil {
		t.Fatal(err)
	}
	rs := segTestStore(t, fresh)
	checkBodies(t, rs, want)
	rs.Close()

	if _, _, err := Restore(dir, bk); err != nil {
		t.Fatal(err)
	}
	kept, _ := filepath.Glob(filepath.Join(dir, segDirName+".before-restore-*"))
	if len(kept) != 1 {
		t.Fatalf("old segments kept as %v", kept)
	}
	rs = segTestStore(t, dir)
	checkBodies(t, rs, want)
}

// TestSegmentCopyStore: store copy from a bbolt store with segments to a
// new bbolt file carries the bodies (into its bodies bucket), and the
// copy, opened as a store, reads them all.
func TestSegmentCopyStore(t *testing.T) {
	dir := t.TempDir()
	st := segTestStore(t, dir)
	want := acceptN(t, st, 0, 25)
	st.Close()
	src, err := OpenKV(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	dst, err := OpenKV(filepath.Join(other, DBFile), true)
	if err != nil {
		t.Fatal(err)
	}
	res, err := CopyStore(src, dst, false, nil)
	src.Close()
	dst.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.SourceKeys != res.TargetKeys || res.SourceBytes != res.TargetBytes {
		t.Fatalf("copy counts differ: %+v", res)
	}
	cp := segTestStore(t, other)
	checkBodies(t, cp, want)
}
