package imap

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/authsmtp/authsmtp/store/mailparse"
)

// meta is the parse of a body cached beside it in the store (see
// store.AppendMeta), so FETCH ENVELOPE and BODYSTRUCTURE and SEARCH never
// parse a body twice.
type meta struct {
	Envelope  *goimap.Envelope
	Structure goimap.BodyStructure
	// HeaderLen is where the body text starts (after the blank line).
	HeaderLen int
	// Plain is true when no part uses base64 or quoted-printable, so a
	// raw scan of the bytes finds every word a decoded scan would.
	Plain bool
	// Upper has bit i set when the upper-case letter 'A'+i occurs after
	// the header. A search key none of whose letters occur upper-case
	// there can be found with an exact (vectorised) byte search.
	Upper uint32
}

// parseMeta parses a raw message once, within the bounds of
// store/mailparse. It never fails: a message over the bounds gets a
// shorter structure, and even a panic in the parse leaves a plain
// structure, which is cached like any other so it is never retried.
func parseMeta(body []byte) (m *meta) {
	defer func() {
		if v := recover(); v != nil {
			m = &meta{HeaderLen: headerLen(body), Envelope: &goimap.Envelope{},
				Structure: writable(&goimap.BodyStructureSinglePart{Type: "application", Subtype: "octet-stream", Size: uint32(len(body))})}
		}
	}()
	msg := mailparse.Parse(body, mailparse.Limits{})
	m = &meta{Plain: true, HeaderLen: msg.Root.BodyStart}
	m.Upper = upperMask(body[m.HeaderLen:])
	m.Envelope = envelopeOf(&msg.Root.Header)
	m.Structure = bodyStructureOf(msg)
	msg.Walk(func(_ []int, p *mailparse.Part) bool {
		switch p.Encoding() {
		case "base64", "quoted-printable":
			m.Plain = false
		}
		if p.Opaque {
			m.Plain = false // not looked into: search decodes it
		}
		return true
	})
	return m
}

// headerLen returns the offset of the first byte after the header's
// terminating empty line (len(body) when there is none).
func headerLen(body []byte) int { return mailparse.HeaderLen(body) }

// upperMask records which upper-case ASCII letters occur in b.
func upperMask(b []byte) uint32 {
	var m uint32
	for _, c := range b {
		if c-'A' < 26 {
			m |= 1 << (c - 'A')
		}
	}
	return m
}

// Encoding: version 2 | uvarint header length | plain byte | upper mask
// (4 bytes) | envelope | uvarint n | n bytes of body structure JSON. The
// search hints come first so SEARCH reads them without the rest; the
// envelope is binary because FETCH of every envelope in a large mailbox
// is the hot path.
const metaV2 = 2

func encodeMeta(m *meta) []byte {
	b := []byte{metaV2}
	b = binary.AppendUvarint(b, uint64(m.HeaderLen))
	if m.Plain {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint32(b, m.Upper)
	b = appendEnvelope(b, m.Envelope)
	bs, _ := json.Marshal(toBSNode(m.Structure))
	b = binary.AppendUvarint(b, uint64(len(bs)))
	return append(b, bs...)
}

var errBadMeta = errors.New("corrupt cached message parse")

// metaReader decodes an encoded meta lazily: the envelope alone for FETCH
// ENVELOPE, the structure only when asked.
type metaReader struct {
	p []byte
	// s holds the same bytes as p did at the start, converted to a string
	// once, so each decoded field is a substring and not an allocation.
	s string
	// zones, when set, is shared across the messages of one command, so
	// a time zone seen before is not allocated again.
	zones *zoneCache
}

// zoneCache remembers the fixed time zones made while decoding the
// envelopes of one command (mail of one mailbox has few distinct offsets).
type zoneCache map[int]*time.Location

func (z *zoneCache) zone(off int) *time.Location {
	if z == nil {
		return time.FixedZone("", off)
	}
	if *z == nil {
		*z = zoneCache{}
	}
	loc, ok := (*z)[off]
	if !ok {
		loc = time.FixedZone("", off)
		(*z)[off] = loc
	}
	return loc
}

func (r *metaReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.p)
	if n <= 0 {
		r.p = nil
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *metaReader) str() string {
	n := r.uvarint()
	if uint64(len(r.p)) < n {
		r.p = nil
		return ""
	}
	at := len(r.s) - len(r.p)
	v := r.s[at : at+int(n)]
	r.p = r.p[n:]
	return v
}

// decodeMeta decodes all of an encoded meta; structure is skipped when
// withStructure is false.
func decodeMeta(b []byte, withStructure bool) (*meta, error) {
	return decodeMetaZones(b, withStructure, nil)
}

// decodeMetaZones is decodeMeta sharing time zones through zones (nil:
// none shared).
func decodeMetaZones(b []byte, withStructure bool, zones *zoneCache) (*meta, error) {
	hl, plain, upper, rest, ok := peekMeta(b)
	if !ok {
		return nil, errBadMeta
	}
	r := &metaReader{p: rest, s: string(rest), zones: zones}
	m := &meta{HeaderLen: hl, Plain: plain, Upper: upper}
	m.Envelope = readEnvelope(r)
	if r.p == nil {
		return nil, errBadMeta
	}
	if withStructure {
		n := r.uvarint()
		if uint64(len(r.p)) < n {
			return nil, errBadMeta
		}
		var node bsNode
		if err := json.Unmarshal(r.p[:n], &node); err != nil {
			return nil, errBadMeta
		}
		m.Structure = writable(node.structure())
	}
	return m, nil
}

// peekMeta reads the search hints at the front of an encoded meta.
func peekMeta(b []byte) (headerLen int, plain bool, upper uint32, rest []byte, ok bool) {
	if len(b) < 3 || b[0] != metaV2 {
		return 0, false, 0, nil, false
	}
	hl, n := binary.Uvarint(b[1:])
	if n <= 0 || len(b) < 1+n+5 {
		return 0, false, 0, nil, false
	}
	p := b[1+n:]
	return int(hl), p[0] == 1, binary.BigEndian.Uint32(p[1:5]), p[5:], true
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendEnvelope(b []byte, e *goimap.Envelope) []byte {
	if e.Date.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, e.Date.Unix())
		_, off := e.Date.Zone()
		b = binary.AppendVarint(b, int64(off))
	}
	b = appendStr(b, e.Subject)
	for _, l := range [][]goimap.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, a := range l {
			b = appendStr(appendStr(appendStr(b, a.Name), a.Mailbox), a.Host)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(e.InReplyTo)))
	for _, s := range e.InReplyTo {
		b = appendStr(b, s)
	}
	return appendStr(b, e.MessageID)
}

func readEnvelope(r *metaReader) *goimap.Envelope {
	e := &goimap.Envelope{}
	readEnvelopeInto(r, e, nil)
	return e
}

// readEnvelopeInto decodes an envelope into e, reusing e's In-Reply-To
// slice and, when arena is not nil, carving the address lists out of
// *arena (the caller resets it between envelopes it no longer needs).
func readEnvelopeInto(r *metaReader, e *goimap.Envelope, arena *[]goimap.Address) {
	*e = goimap.Envelope{InReplyTo: e.InReplyTo[:0]}
	if len(r.p) < 1 {
		r.p = nil
		return
	}
	hasDate := r.p[0] == 1
	r.p = r.p[1:]
	if hasDate {
		sec, n := binary.Varint(r.p)
		if n <= 0 {
			r.p = nil
			return
		}
		r.p = r.p[n:]
		off, n := binary.Varint(r.p)
		if n <= 0 {
			r.p = nil
			return
		}
		r.p = r.p[n:]
		e.Date = time.Unix(sec, 0).In(r.zones.zone(int(off)))
	}
	e.Subject = r.str()
	for _, l := range []*[]goimap.Address{&e.From, &e.Sender, &e.ReplyTo, &e.To, &e.Cc, &e.Bcc} {
		n := r.uvarint()
		if n > uint64(len(r.p)) {
			r.p = nil
			return
		}
		if n > 0 {
			if arena != nil {
				at := len(*arena)
				*arena = slices.Grow(*arena, int(n))[:at+int(n)]
				*l = (*arena)[at : at+int(n) : at+int(n)]
			} else {
				*l = make([]goimap.Address, n)
			}
			for i := range *l {
				(*l)[i] = goimap.Address{Name: r.str(), Mailbox: r.str(), Host: r.str()}
			}
		}
	}
	n := r.uvarint()
	if n > uint64(len(r.p)) {
		r.p = nil
		return
	}
	for i := uint64(0); i < n; i++ {
		e.InReplyTo = append(e.InReplyTo, r.str())
	}
	if len(e.InReplyTo) == 0 {
		e.InReplyTo = nil
	}
	e.MessageID = r.str()
}

// bsNode is a body structure in a form encoding/json can round-trip.
type bsNode struct {
	Single   *goimap.BodyStructureSinglePart `json:"s,omitempty"`
	RFC822   *rfc822Node                     `json:"r,omitempty"`
	Subtype  string                          `json:"m,omitempty"`
	Children []bsNode                        `json:"c,omitempty"`
	MultiExt *goimap.BodyStructureMultiPartExt
}

type rfc822Node struct {
	Envelope *goimap.Envelope
	Body     *bsNode
	NumLines int64
}

func toBSNode(bs goimap.BodyStructure) bsNode {
	switch x := bs.(type) {
	case *goimap.BodyStructureSinglePart:
		c := *x
		var n bsNode
		if c.MessageRFC822 != nil {
			inner := toBSNode(c.MessageRFC822.BodyStructure)
			n.RFC822 = &rfc822Node{Envelope: c.MessageRFC822.Envelope, Body: &inner, NumLines: c.MessageRFC822.NumLines}
			c.MessageRFC822 = nil
		}
		n.Single = &c
		return n
	case *goimap.BodyStructureMultiPart:
		n := bsNode{Subtype: x.Subtype, MultiExt: x.Extended}
		for _, ch := range x.Children {
			n.Children = append(n.Children, toBSNode(ch))
		}
		return n
	}
	return bsNode{Single: &goimap.BodyStructureSinglePart{Type: "text", Subtype: "plain", Encoding: "7bit"}}
}

func (n *bsNode) structure() goimap.BodyStructure {
	if n.Single != nil {
		sp := *n.Single
		if n.RFC822 != nil {
			var inner goimap.BodyStructure = &goimap.BodyStructureSinglePart{Type: "text", Subtype: "plain"}
			if n.RFC822.Body != nil {
				inner = n.RFC822.Body.structure()
			}
			env := n.RFC822.Envelope
			if env == nil {
				env = &goimap.Envelope{}
			}
			sp.MessageRFC822 = &goimap.BodyStructureMessageRFC822{Envelope: env, BodyStructure: inner, NumLines: n.RFC822.NumLines}
		}
		return &sp
	}
	mp := &goimap.BodyStructureMultiPart{Subtype: n.Subtype, Extended: n.MultiExt}
	for i := range n.Children {
		mp.Children = append(mp.Children, n.Children[i].structure())
	}
	return mp
}
