package imap

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"sort"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/mailparse"
)

// Search answers SEARCH and UID SEARCH (and ESEARCH's MIN, MAX, COUNT,
// ALL) over the messages this session has announced.
func (s *session) Search(kind imapserver.NumKind, criteria *goimap.SearchCriteria, options *goimap.SearchOptions) (*goimap.SearchData, error) {
	sel := s.sel
	m := compile(criteria, sel)
	var candidates []uint32
	if len(sel.uids) > 0 {
		candidates = append([]uint32{}, sel.uids...)
	}
	var hits []uint32
	if len(candidates) > 0 {
		var err error
		hits, err = s.st.SearchMessages(s.user, sel.name, candidates, m.needBody, m.match)
		if err != nil {
			return nil, s.fail("SEARCH", err, false)
		}
	}
	if options.ReturnSave {
		sel.searchRes = hits
	}
	d := &goimap.SearchData{}
	var nums []uint32
	for _, uid := range hits {
		if kind == imapserver.NumKindUID {
			nums = append(nums, uid)
		} else if i := sel.index(uid); i >= 0 {
			nums = append(nums, uint32(i+1))
		}
	}
	if kind == imapserver.NumKindUID {
		var set goimap.UIDSet
		for _, n := range nums {
			set.AddNum(goimap.UID(n))
		}
		d.All = set
	} else {
		var set goimap.SeqSet
		set.AddNum(nums...)
		d.All = set
	}
	if len(nums) > 0 {
		d.Min, d.Max, d.Count = nums[0], nums[len(nums)-1], uint32(len(nums))
	}
	return d, nil
}

// matcher is a compiled search: keys lower-cased once, sets resolved
// against the view once.
type matcher struct {
	c        *goimap.SearchCriteria
	sel      *selected
	needBody bool
	body     []searchKey // BODY keys
	text     []searchKey // TEXT keys
	headers  []headerKey
	not      []*matcher
	or       [][2]*matcher
}

// searchKey is a lower-cased key and the upper-case letters that could
// spell part of it (see meta.Upper).
type searchKey struct {
	lower []byte
	upper uint32
	ascii bool
}

func newSearchKey(k string) searchKey {
	sk := searchKey{lower: lowerASCII(k), ascii: isASCII([]byte(k))}
	for _, c := range sk.lower {
		if c-'a' < 26 {
			sk.upper |= 1 << (c - 'a')
		}
	}
	return sk
}

type headerKey struct {
	name  string
	value []byte
}

func compile(c *goimap.SearchCriteria, sel *selected) *matcher {
	m := &matcher{c: c, sel: sel}
	for _, k := range c.Body {
		m.body = append(m.body, newSearchKey(k))
	}
	for _, k := range c.Text {
		m.text = append(m.text, newSearchKey(k))
	}
	for _, h := range c.Header {
		m.headers = append(m.headers, headerKey{name: h.Key, value: lowerASCII(h.Value)})
	}
	m.needBody = len(m.body) > 0 || len(m.text) > 0 || len(m.headers) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero()
	for i := range c.Not {
		n := compile(&c.Not[i], sel)
		m.needBody = m.needBody || n.needBody
		m.not = append(m.not, n)
	}
	for i := range c.Or {
		a, b := compile(&c.Or[i][0], sel), compile(&c.Or[i][1], sel)
		m.needBody = m.needBody || a.needBody || b.needBody
		m.or = append(m.or, [2]*matcher{a, b})
	}
	return m
}

// msgCtx caches what one message's keys need, computed at most once.
type msgCtx struct {
	it       *store.SearchItem
	flags    []string
	hdr      *mailparse.Header
	hl       int
	plain    int // 0 unknown, 1 yes, 2 no
	upper    uint32
	hints    bool // plain and upper come from the cached parse
	decoded  []byte
	decodedF bool
}

func (m *matcher) match(it *store.SearchItem) bool {
	x := &msgCtx{it: it, hl: -1}
	if hl, plain, upper, _, ok := peekMeta(it.Meta); ok && hl <= len(it.Body) {
		x.hl, x.upper, x.hints = hl, upper, true
		x.plain = 2
		if plain {
			x.plain = 1
		}
	}
	return m.matchCtx(x)
}

func (m *matcher) matchCtx(x *msgCtx) bool {
	c := m.c
	it := x.it
	if len(c.SeqNum) > 0 {
		seq := uint32(m.sel.index(it.UID) + 1)
		for _, set := range c.SeqNum {
			if !seqContains(set, seq, uint32(len(m.sel.uids))) {
				return false
			}
		}
	}
	for _, set := range c.UID {
		if goimap.IsSearchRes(set) {
			if !inSorted(m.sel.searchRes, it.UID) {
				return false
			}
			continue
		}
		if !uidContains(set, it.UID, m.sel.lastUID()) {
			return false
		}
	}
	if c.Larger > 0 && it.Size <= c.Larger {
		return false
	}
	if c.Smaller > 0 && it.Size >= c.Smaller {
		return false
	}
	if !c.Since.IsZero() || !c.Before.IsZero() {
		day := dayOf(time.Unix(0, it.Date).UTC())
		if !c.Since.IsZero() && day.Before(dayOf(c.Since)) {
			return false
		}
		if !c.Before.IsZero() && !day.Before(dayOf(c.Before)) {
			return false
		}
	}
	if len(c.Flag) > 0 || len(c.NotFlag) > 0 {
		if x.flags == nil {
			x.flags = it.Flags()
		}
		for _, f := range c.Flag {
			if !hasFlag(x.flags, string(f)) {
				return false
			}
		}
		for _, f := range c.NotFlag {
			if hasFlag(x.flags, string(f)) {
				return false
			}
		}
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		d := x.sentDate()
		if d.IsZero() {
			return false
		}
		day := dayOf(d)
		if !c.SentSince.IsZero() && day.Before(dayOf(c.SentSince)) {
			return false
		}
		if !c.SentBefore.IsZero() && !day.Before(dayOf(c.SentBefore)) {
			return false
		}
	}
	for _, h := range m.headers {
		if !x.headerContains(h) {
			return false
		}
	}
	for _, k := range m.body {
		if !x.contains(k, false) {
			return false
		}
	}
	for _, k := range m.text {
		if !x.contains(k, true) {
			return false
		}
	}
	for _, n := range m.not {
		if n.matchCtx(x) {
			return false
		}
	}
	for _, o := range m.or {
		if !o[0].matchCtx(x) && !o[1].matchCtx(x) {
			return false
		}
	}
	return true
}

func dayOf(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

func seqContains(set goimap.SeqSet, seq, n uint32) bool {
	for _, r := range set {
		a, b := r.Start, r.Stop
		if a == 0 {
			a = n
		}
		if b == 0 {
			b = n
		}
		if a > b {
			a, b = b, a
		}
		if seq >= a && seq <= b {
			return true
		}
	}
	return false
}

func uidContains(set goimap.UIDSet, uid, last uint32) bool {
	for _, r := range set {
		a, b := uint32(r.Start), uint32(r.Stop)
		if a == 0 {
			a = last
		}
		if b == 0 {
			b = last
		}
		if a > b {
			a, b = b, a
		}
		if uid >= a && uid <= b {
			return true
		}
	}
	return false
}

func (x *msgCtx) headerLen() int {
	if x.hl < 0 {
		x.hl = headerLen(x.it.Body)
	}
	return x.hl
}

func (x *msgCtx) header() *mailparse.Header {
	if x.hdr == nil {
		h := mailparse.ReadHeader(x.it.Body[:x.headerLen()], mailparse.Limits{})
		x.hdr = &h
	}
	return x.hdr
}

func (x *msgCtx) sentDate() time.Time {
	if md, err := decodeMeta(x.it.Meta, false); err == nil && md.Envelope != nil {
		return md.Envelope.Date
	}
	t, err := mail.ParseDate(x.header().Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) { return r, nil }}

// headerContains: HEADER, FROM, TO, CC, BCC, SUBJECT keys. An empty
// value matches any message that has the field.
func (x *msgCtx) headerContains(h headerKey) bool {
	for _, raw := range x.header().Values(h.name) {
		if len(h.value) == 0 || containsFoldString(raw, h.value) {
			return true
		}
		if strings.Contains(raw, "=?") {
			if dec, err := wordDecoder.DecodeHeader(raw); err == nil && containsFoldString(dec, h.value) {
				return true
			}
		}
	}
	return false
}

// contains looks for a key in the body text (BODY) or the whole message
// (TEXT). The raw bytes are scanned first; only messages with encoded
// parts or encoded header words that did not match raw are decoded. When
// the cached parse says no letter of the key occurs upper-case in the
// body, the body is searched with an exact, vectorised byte search.
func (x *msgCtx) contains(sk searchKey, withHeader bool) bool {
	key := sk.lower
	hl := x.headerLen()
	if withHeader && indexFold(x.it.Body[:hl], key) >= 0 {
		return true
	}
	body := x.it.Body[hl:]
	if x.hints && sk.ascii && x.upper&sk.upper == 0 {
		if bytes.Index(body, key) >= 0 {
			return true
		}
	} else if indexFold(body, key) >= 0 {
		return true
	}
	if withHeader && indexFold(x.it.Body[max(hl-len(key), 0):min(hl+len(key), len(x.it.Body))], key) >= 0 {
		return true // a match across the blank line (rare, but TEXT allows it)
	}
	if withHeader && bytes.Contains(x.it.Body[:x.headerLen()], []byte("=?")) {
		for _, f := range x.header().Fields {
			if dec, err := wordDecoder.DecodeHeader(f.Value()); err == nil && containsFoldString(dec, key) {
				return true
			}
		}
	}
	if !sk.ascii {
		// Non-ASCII letters fold by Unicode rules (slow, but only for such keys).
		region := x.it.Body
		if !withHeader {
			region = body
		}
		if bytes.Contains(bytes.ToLower(region), bytes.ToLower(key)) {
			return true
		}
	}
	if x.isPlain() {
		return false
	}
	if !x.decodedF {
		x.decodedF = true
		x.decoded = decodedText(x.it.Body)
	}
	return indexFold(x.decoded, key) >= 0 || containsFoldString(string(x.decoded), key)
}

func (x *msgCtx) isPlain() bool {
	if x.plain == 0 {
		x.plain = 2
		if md, err := decodeMeta(x.it.Meta, false); err == nil {
			if md.Plain {
				x.plain = 1
			}
		} else if indexFold(x.it.Body, []byte("base64")) < 0 && indexFold(x.it.Body, []byte("quoted-printable")) < 0 {
			x.plain = 1
		}
	}
	return x.plain == 1
}

// maxDecoded bounds the decoded text searched per message.
const maxDecoded = 8 << 20

// decodedText returns the transfer-decoded content of a message's text
// parts (attachments are not searched), up to maxDecoded bytes.
func decodedText(body []byte) []byte {
	m := mailparse.Parse(body, mailparse.Limits{})
	var out bytes.Buffer
	m.Leaves(func(p *mailparse.Part) bool {
		if p.Type == "text" {
			io.Copy(&out, io.LimitReader(m.DecodedText(p), int64(maxDecoded-out.Len())))
			out.WriteByte('\n')
		}
		return out.Len() < maxDecoded
	})
	return out.Bytes()
}

// inSorted reports whether uid is in the ascending list l.
func inSorted(l []uint32, uid uint32) bool {
	i := sort.Search(len(l), func(i int) bool { return l[i] >= uid })
	return i < len(l) && l[i] == uid
}
