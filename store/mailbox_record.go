package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// System flags are kept as bits in the record; keywords as strings.
const (
	flagSeen byte = 1 << iota
	flagAnswered
	flagFlagged
	flagDeleted
	flagDraft
)

var systemFlags = []struct {
	bit  byte
	name string
}{{flagSeen, `\Seen`}, {flagAnswered, `\Answered`}, {flagFlagged, `\Flagged`}, {flagDeleted, `\Deleted`}, {flagDraft, `\Draft`}}

// splitFlags turns a flag list into system flag bits and keywords,
// dropping duplicates and \Recent (a session property, never stored).
func splitFlags(flags []string) (byte, []string) {
	var bits byte
	var kws []string
outer:
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			for _, sf := range systemFlags {
				if strings.EqualFold(f, sf.name) {
					bits |= sf.bit
					continue outer
				}
			}
			continue // \Recent and unknown system flags are not stored
		}
		if f == "" {
			continue
		}
		for _, k := range kws {
			if strings.EqualFold(k, f) {
				continue outer
			}
		}
		kws = append(kws, f)
	}
	return bits, kws
}

func joinFlags(bits byte, kws []string) []string {
	out := make([]string, 0, 4+len(kws))
	for _, sf := range systemFlags {
		if bits&sf.bit != 0 {
			out = append(out, sf.name)
		}
	}
	return append(out, kws...)
}

// Message records are a compact binary encoding (no JSON on the hot path):
//
//	0x01 | uid u32 | date unix-nano i64 | uvarint size | uvarint body id |
//	uvarint modseq | system flag bits | uvarint n | n × (uvarint len | keyword)
//
// A record starting with '{' is the JSON of the first schema, still read.
const msgRecordV1 = 0x01

func encodeMessage(m *Message) []byte {
	bits, kws := splitFlags(m.Flags)
	b := make([]byte, 0, 48)
	b = append(b, msgRecordV1)
	b = binary.BigEndian.AppendUint32(b, m.UID)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Date.UnixNano()))
	b = binary.AppendUvarint(b, uint64(m.Size))
	b = binary.AppendUvarint(b, m.BodyID)
	b = binary.AppendUvarint(b, m.ModSeq)
	b = append(b, bits)
	b = binary.AppendUvarint(b, uint64(len(kws)))
	for _, k := range kws {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

// msgHead is the part of a record needed to scan a mailbox quickly.
type msgHead struct {
	uid    uint32
	date   int64
	size   int64
	bodyID uint64
	modseq uint64
	bits   byte
	rest   []byte // keywords, still encoded
}

var errBadRecord = errors.New("corrupt message record")

func decodeHead(v []byte) (msgHead, error) {
	var h msgHead
	if len(v) > 0 && v[0] == '{' {
		var m Message
		if err := json.Unmarshal(v, &m); err != nil {
			return h, err
		}
		bits, kws := splitFlags(m.Flags)
		return msgHead{uid: m.UID, date: m.Date.UnixNano(), size: m.Size, bodyID: m.BodyID, modseq: m.ModSeq, bits: bits, rest: encodeKeywords(kws)}, nil
	}
	if len(v) < 14 || v[0] != msgRecordV1 {
		return h, errBadRecord
	}
	h.uid = binary.BigEndian.Uint32(v[1:])
	h.date = int64(binary.BigEndian.Uint64(v[5:]))
	p := v[13:]
	var vals [3]uint64
	for i := range vals {
		x, n := binary.Uvarint(p)
		if n <= 0 {
			return h, errBadRecord
		}
		vals[i], p = x, p[n:]
	}
	h.size, h.bodyID, h.modseq = int64(vals[0]), vals[1], vals[2]
	if len(p) < 1 {
		return h, errBadRecord
	}
	h.bits, h.rest = p[0], p[1:]
	return h, nil
}

func encodeKeywords(kws []string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(kws)))
	for _, k := range kws {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

func decodeKeywords(p []byte) ([]string, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > 1000 {
		return nil, errBadRecord
	}
	p = p[k:]
	var out []string
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < l {
			return nil, errBadRecord
		}
		out = append(out, string(p[k:k+int(l)]))
		p = p[k+int(l):]
	}
	return out, nil
}

func (h *msgHead) message() (*Message, error) {
	kws, err := decodeKeywords(h.rest)
	if err != nil {
		return nil, err
	}
	return &Message{UID: h.uid, Flags: joinFlags(h.bits, kws), Date: time.Unix(0, h.date).UTC(), Size: h.size, BodyID: h.bodyID, ModSeq: h.modseq}, nil
}

func decodeMessage(v []byte) (*Message, error) {
	h, err := decodeHead(v)
	if err != nil {
		return nil, err
	}
	return h.message()
}
