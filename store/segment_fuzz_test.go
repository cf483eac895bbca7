package store

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzSegmentRecord: any bytes read from a segment file (torn, damaged,
// stale) either parse as the record the bbolt location describes, with
// the very body that was written, or are refused; nothing panics.
func FuzzSegmentRecord(f *testing.F) {
	good := func(id uint64, body string) []byte {
		var h [recordHeader]byte
		putRecordHeader(h[:], id, []byte(body))
		return append(h[:], body...)
	}
	f.Add(good(7, "Subject: x\r\n\r\nhello\r\n"), uint64(7))
	f.Add(good(1, ""), uint64(1))
	f.Add(good(9, "torn body")[:20], uint64(9))
	f.Add([]byte("ASB1\x00\x00\x00\x05"), uint64(0))
	f.Fuzz(func(t *testing.T, rec []byte, id uint64) {
		h, err := parseRecordHeader(rec)
		if err != nil {
			return
		}
		// As the reader does: the location comes from bbolt.
		loc := bodyLoc{len: h.len, crc: h.crc}
		n := min(len(rec), int(min(loc.recordSize(), 1<<20)))
		body, err := checkRecord(rec[:n], id, loc)
		if err != nil {
			return
		}
		if h.id != id || uint32(len(body)) != h.len {
			t.Fatalf("accepted body %d of %d bytes as body %d of %d", h.id, len(body), id, h.len)
		}
		// A record that passed is exactly what putRecordHeader writes.
		var again [recordHeader]byte
		putRecordHeader(again[:], id, body)
		if !bytes.Equal(again[:], rec[:recordHeader]) || binary.BigEndian.Uint32(rec) != recordMagic {
			t.Fatalf("accepted a header putRecordHeader does not write: %x", rec[:recordHeader])
		}
	})
}
