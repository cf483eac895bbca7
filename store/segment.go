package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Segment files hold message bodies on a local store (bbolt): appended to
// <data>/bodies/NNNNNNNN.seg, never rewritten in place. The bbolt record
// of a body (bodyloc) names its segment, offset, length and checksum.
//
// A segment file starts with a 16-byte file header (segFileMagic, then
// the format version, u32 BE, then 4 zero bytes). Each body follows as a
// record: a 24-byte header, then the body bytes:
//
//	0  u32 recordMagic
//	4  u32 body length
//	8  u64 body id (0 when written ahead of its transaction, before
//	     the id was given)
//	16 u32 CRC-32C of the body
//	20 u32 CRC-32C of bytes 0..19
//
// A reader checks the header against the bbolt record (id, length,
// checksum) and the body against its checksum, so a torn or stale record
// is never returned as a body. Bytes no record points at (a group that
// failed to commit, the tail torn by a crash) are dead and are reclaimed
// by compaction (compact.go).

const (
	segFileMagic   = "ASMTPSEG"
	segVersion     = 1
	segFileHeader  = 16
	recordMagic    = 0x41534231 // "ASB1"
	recordHeader   = 24
	segDirName     = "bodies"
	segSuffix      = ".seg"
	defaultSegSize = 64 << 20 // a segment is closed for writing past this
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// bodyLoc is where a body lives: the bodyloc record in bbolt.
type bodyLoc struct {
	seg uint32
	off int64 // of the record header
	len uint32
	crc uint32
}

const bodyLocSize = 20

func (l bodyLoc) encode() []byte {
	b := make([]byte, bodyLocSize)
	binary.BigEndian.PutUint32(b[0:], l.seg)
	binary.BigEndian.PutUint64(b[4:], uint64(l.off))
	binary.BigEndian.PutUint32(b[12:], l.len)
	binary.BigEndian.PutUint32(b[16:], l.crc)
	return b
}

func decodeBodyLoc(b []byte) (bodyLoc, error) {
	if len(b) != bodyLocSize {
		return bodyLoc{}, fmt.Errorf("body location of %d bytes", len(b))
	}
	return bodyLoc{seg: binary.BigEndian.Uint32(b[0:]), off: int64(binary.BigEndian.Uint64(b[4:])),
		len: binary.BigEndian.Uint32(b[12:]), crc: binary.BigEndian.Uint32(b[16:])}, nil
}

// recordSize is what a body takes in its segment.
func (l bodyLoc) recordSize() int64 { return recordHeader + int64(l.len) }

// putRecordHeader fills h (recordHeader bytes) for body id.
func putRecordHeader(h []byte, id uint64, body []byte) uint32 {
	sum := crc32.Checksum(body, castagnoli)
	binary.BigEndian.PutUint32(h[0:], recordMagic)
	binary.BigEndian.PutUint32(h[4:], uint32(len(body)))
	binary.BigEndian.PutUint64(h[8:], id)
	binary.BigEndian.PutUint32(h[16:], sum)
	binary.BigEndian.PutUint32(h[20:], crc32.Checksum(h[:20], castagnoli))
	return sum
}

// recordHead is a parsed record header.
type recordHead struct {
	id  uint64
	len uint32
	crc uint32
}

var errBadSegRecord = errors.New("not a sound body record")

// parseRecordHeader reads a record header from segment bytes.
func parseRecordHeader(h []byte) (recordHead, error) {
	if len(h) < recordHeader {
		return recordHead{}, fmt.Errorf("%w: %d bytes of header", errBadSegRecord, len(h))
	}
	if binary.BigEndian.Uint32(h[0:]) != recordMagic {
		return recordHead{}, fmt.Errorf("%w: bad magic", errBadSegRecord)
	}
	if crc32.Checksum(h[:20], castagnoli) != binary.BigEndian.Uint32(h[20:]) {
		return recordHead{}, fmt.Errorf("%w: header checksum", errBadSegRecord)
	}
	return recordHead{len: binary.BigEndian.Uint32(h[4:]), id: binary.BigEndian.Uint64(h[8:]),
		crc: binary.BigEndian.Uint32(h[16:])}, nil
}

// checkRecord checks a whole record (header and body, as read at loc)
// against what bbolt says is there, and returns the body.
func checkRecord(rec []byte, id uint64, loc bodyLoc) ([]byte, error) {
	h, err := parseRecordHeader(rec)
	if err != nil {
		return nil, err
	}
	if h.id != 0 && h.id != id || h.len != loc.len || h.crc != loc.crc {
		return nil, fmt.Errorf("%w: holds body %d (%d bytes), not body %d (%d bytes)", errBadSegRecord, h.id, h.len, id, loc.len)
	}
	body := rec[recordHeader:]
	if int64(len(body)) != int64(h.len) {
		return nil, fmt.Errorf("%w: %d of %d body bytes", errBadSegRecord, len(body), h.len)
	}
	if crc32.Checksum(body, castagnoli) != h.crc {
		return nil, fmt.Errorf("%w: body checksum", errBadSegRecord)
	}
	return body, nil
}

func segName(n uint32) string { return fmt.Sprintf("%08d%s", n, segSuffix) }

// listSegments returns the numbers of the segment files in dir, ascending.
func listSegments(dir string) ([]uint32, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok || len(name) != 8 {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			continue
		}
		out = append(out, uint32(n))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// createSegment makes a new segment file with its header, synced, and
// its directory entry synced, so a record in it may be referenced once
// the record's bytes are synced.
func createSegment(dir string, n uint32, sync bool) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, segName(n)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating body segment: %w", err)
	}
	h := make([]byte, segFileHeader)
	copy(h, segFileMagic)
	binary.BigEndian.PutUint32(h[8:], segVersion)
	_, err = f.Write(h)
	if err == nil && sync {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("creating body segment: %w", err)
	}
	if sync {
		syncDir(dir)
	}
	return f, nil
}

// segWriter appends bodies to the current segment, starting a new one
// past max bytes. A record is durable once syncThrough(its location)
// returned; concurrent callers share one fdatasync (a sync started after
// a record was written covers it).
type segWriter struct {
	dir    string
	max    int64
	noSync bool
	nums   *segNumbers

	mu   sync.Mutex
	f    *os.File
	num  uint32
	off  int64 // end of the last record written to f
	buf  []byte
	cond *sync.Cond // signalled when a sync ends
	// synced is how much of f is durable; syncing says an fdatasync of f
	// runs (started when the file ended at syncEnd).
	synced  int64
	syncing bool
	// failed holds segments whose sync failed: their records are never
	// durable, whatever comes later.
	failed map[uint32]bool
	// txSegs are the segments a transaction put records in (put) since
	// the last flush.
	txSegs []uint32
}

// segNumbers hands out segment numbers, to the writer and the compactor.
type segNumbers struct {
	mu   sync.Mutex
	next uint32
}

func (n *segNumbers) take() uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.next++
	return n.next - 1
}

// append writes one record (id may be 0: not known yet) and returns
// where it is. It is not durable before syncThrough.
func (w *segWriter) append(id uint64, body []byte) (bodyLoc, error) {
	if uint64(len(body)) > 1<<32-1 {
		return bodyLoc{}, fmt.Errorf("body of %d bytes is too large", len(body))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cond == nil {
		w.cond = sync.NewCond(&w.mu)
	}
	need := recordHeader + int64(len(body))
	if w.f != nil && w.off+need > w.max && w.off > segFileHeader {
		w.rotateLocked(need)
	}
	if w.f == nil {
		if err := os.MkdirAll(w.dir, 0o700); err != nil {
			return bodyLoc{}, fmt.Errorf("creating %s: %w", w.dir, err)
		}
		num := w.nums.take()
		f, err := createSegment(w.dir, num, !w.noSync)
		if err != nil {
			return bodyLoc{}, err
		}
		w.f, w.num, w.off, w.synced = f, num, segFileHeader, segFileHeader
	}
	var h [recordHeader]byte
	sum := putRecordHeader(h[:], id, body)
	var err error
	if len(body) <= 64<<10 {
		w.buf = append(append(w.buf[:0], h[:]...), body...)
		_, err = w.f.WriteAt(w.buf, w.off)
		if cap(w.buf) > 1<<20 {
			w.buf = nil
		}
	} else {
		if _, err = w.f.WriteAt(h[:], w.off); err == nil {
			_, err = w.f.WriteAt(body, w.off+recordHeader)
		}
	}
	if err != nil {
		// The file may hold part of the record: write no more to it.
		w.failLocked(w.f, w.num)
		return bodyLoc{}, fmt.Errorf("writing body segment: %w", err)
	}
	loc := bodyLoc{seg: w.num, off: w.off, len: uint32(len(body)), crc: sum}
	w.off += loc.recordSize()
	return loc, nil
}

// rotateLocked leaves the current segment: its records are synced by a
// sync started now (without the lock), or fail with it.
func (w *segWriter) rotateLocked(need int64) {
	for w.syncing {
		w.cond.Wait()
	}
	if w.f == nil || w.off+need <= w.max || w.off <= segFileHeader {
		return // another writer rotated meanwhile
	}
	if w.off > w.synced && !w.noSync {
		if err := fdatasync(w.f); err != nil {
			w.markFailed(w.num)
		}
	}
	w.f.Close()
	w.f, w.synced = nil, 0
}

func (w *segWriter) markFailed(num uint32) {
	if w.failed == nil {
		w.failed = map[uint32]bool{}
	}
	w.failed[num] = true
}

// failLocked gives up segment num (file f) after an I/O error.
func (w *segWriter) failLocked(f *os.File, num uint32) {
	for w.syncing {
		w.cond.Wait()
	}
	w.markFailed(num)
	if w.f == f {
		w.f.Close()
		w.f, w.synced = nil, 0
	}
}

// syncThrough returns once the record at loc is durable.
func (w *segWriter) syncThrough(loc bodyLoc) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncThroughLocked(loc.seg, loc.off+loc.recordSize())
}

func (w *segWriter) syncThroughLocked(seg uint32, end int64) error {
	if w.cond == nil {
		w.cond = sync.NewCond(&w.mu)
	}
	for {
		switch {
		case w.failed[seg]:
			return fmt.Errorf("syncing body segment %d failed", seg)
		case w.f == nil || seg != w.num:
			return nil // left after a sync (rotateLocked)
		case w.synced >= end:
			return nil
		case w.syncing:
			w.cond.Wait()
			continue
		}
		if w.noSync {
			w.synced = w.off
			return nil
		}
		// Sync what the file holds now, without the lock: appends go on
		// meanwhile and wait for the next sync.
		w.syncing = true
		f, target := w.f, w.off
		w.mu.Unlock()
		err := fdatasync(f)
		w.mu.Lock()
		w.syncing = false
		w.cond.Broadcast()
		if err != nil {
			// After a failed sync the kernel may have dropped the dirty
			// pages: nothing in this file can be trusted to be durable.
			w.failLocked(f, seg)
			return fmt.Errorf("syncing body segment: %w", err)
		}
		if w.f == f {
			w.synced = max(w.synced, target)
		}
	}
}

// flush makes every record put by a transaction durable (the records
// written ahead with append are synced by their writers).
func (w *segWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	segs := w.txSegs
	w.txSegs = w.txSegs[:0]
	for _, seg := range segs {
		// A segment left since was synced by rotateLocked, or failed.
		if err := w.syncThroughLocked(seg, w.off); err != nil {
			return err
		}
	}
	return nil
}

// putInTx notes that a transaction put a record in seg.
func (w *segWriter) putInTx(seg uint32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.txSegs); n == 0 || w.txSegs[n-1] != seg {
		w.txSegs = append(w.txSegs, seg)
	}
}

// active is the number of the segment being written (ok false: none).
func (w *segWriter) active() (uint32, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.num, w.f != nil
}

func (w *segWriter) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	if w.f != nil {
		err = w.syncThroughLocked(w.num, w.off)
		if w.f != nil {
			w.f.Close()
		}
		w.f = nil
	}
	w.buf = nil
	return err
}

// segFiles reads records by pread through one open file per segment
// (no mapping: a read does not grow the resident set).
type segFiles struct {
	dir   string
	mu    sync.Mutex
	files map[uint32]*segFile
}

type segFile struct {
	mu   sync.RWMutex
	f    *os.File
	gone bool
}

var errSegmentGone = errors.New("body segment removed")

func newSegFiles(dir string) *segFiles {
	return &segFiles{dir: dir, files: map[uint32]*segFile{}}
}

func (r *segFiles) file(n uint32) (*segFile, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sf := r.files[n]; sf != nil {
		return sf, nil
	}
	f, err := os.Open(filepath.Join(r.dir, segName(n)))
	if err != nil {
		return nil, fmt.Errorf("opening body segment: %w", err)
	}
	sf := &segFile{f: f}
	r.files[n] = sf
	return sf, nil
}

// read appends body id, stored at loc, to dst.
func (r *segFiles) read(id uint64, loc bodyLoc, dst []byte) ([]byte, error) {
	sf, err := r.file(loc.seg)
	if err != nil {
		return dst, err
	}
	n := int(loc.recordSize())
	at := len(dst)
	dst = grow(dst, n)
	rec := dst[at : at+n]
	sf.mu.RLock()
	if sf.gone {
		sf.mu.RUnlock()
		return dst[:at], errSegmentGone
	}
	got, err := sf.f.ReadAt(rec, loc.off)
	sf.mu.RUnlock()
	if err != nil && got < n {
		return dst[:at], fmt.Errorf("reading body %d from segment %d: %w", id, loc.seg, err)
	}
	body, err := checkRecord(rec, id, loc)
	if err != nil {
		return dst[:at], fmt.Errorf("reading body %d from segment %d at %d: %w", id, loc.seg, loc.off, err)
	}
	// Move the body over its header.
	copy(dst[at:], body)
	return dst[:at+len(body)], nil
}

// remove closes and deletes segment n; later reads of it fail.
func (r *segFiles) remove(n uint32) error {
	r.mu.Lock()
	sf := r.files[n]
	delete(r.files, n)
	r.mu.Unlock()
	if sf != nil {
		sf.mu.Lock()
		sf.gone = true
		sf.f.Close()
		sf.mu.Unlock()
	}
	err := os.Remove(filepath.Join(r.dir, segName(n)))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func (r *segFiles) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, sf := range r.files {
		sf.mu.Lock()
		sf.gone = true
		sf.f.Close()
		sf.mu.Unlock()
		delete(r.files, n)
	}
}

// grow returns b lengthened by n bytes (their content undefined),
// reallocating geometrically when it lacks room.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		c := len(b) + n
		if len(b) > 0 {
			c = max(c, 2*cap(b))
		}
		nb := make([]byte, len(b), c)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}
