package mailparse

import (
	"bytes"
	"errors"
	"mime"
	"strings"
)

// Message is a parsed message: a tree of parts over the raw bytes.
type Message struct {
	// Raw is the message as stored; every offset below points into it.
	Raw []byte
	// Root is the message itself as a part (Start 0, End len(Raw)).
	Root *Part
	// Truncated is set when a limit cut the tree short somewhere; Reason
	// says which limit, for logs.
	Truncated bool
	Reason    string
	// Parts counts the parts in the tree.
	Parts int

	lim   Limits
	work  int64 // bytes that may still be scanned for boundaries
	lines []int // newlines before each lineBlock-byte block (built lazily)
}

// Part is one MIME entity: a header and a body, both slices of Raw.
type Part struct {
	Header Header
	// Start is where the part's header begins, BodyStart where its body
	// begins, End where the part ends.
	Start, BodyStart, End int
	// Type and Subtype are the media type in lower case: text/plain when
	// there is none or it cannot be read (RFC 2045 §5.2), message/rfc822
	// for a part of a multipart/digest without one (RFC 2046 §5.1.5).
	Type, Subtype string
	// Params are the Content-Type parameters, names in lower case and
	// values decoded (nil if none).
	Params map[string]string
	// Parts are the parts of a multipart (none when Opaque).
	Parts []*Part
	// Message is the message inside a message/rfc822 or message/global
	// part (nil when Opaque).
	Message *Part
	// Opaque is set on a multipart or message part whose inside was not
	// parsed because a limit was reached: treat it as a leaf.
	Opaque bool
	// Depth is how many containers enclose the part (0 for the root).
	Depth int
}

// MediaType returns "type/subtype".
func (p *Part) MediaType() string { return p.Type + "/" + p.Subtype }

// IsMultipart tells whether the part has parts to descend into.
func (p *Part) IsMultipart() bool { return p.Type == "multipart" && !p.Opaque && len(p.Parts) > 0 }

// IsMessage tells whether the part holds a parsed message.
func (p *Part) IsMessage() bool { return p.Message != nil }

// Encoding returns the Content-Transfer-Encoding in lower case ("" if none).
func (p *Part) Encoding() string {
	return strings.ToLower(p.Header.Get("Content-Transfer-Encoding"))
}

// Parse parses raw within lim. It never fails: what cannot be read is
// shown as text or as an opaque leaf, and what a limit cut is marked.
func Parse(raw []byte, lim Limits) *Message {
	lim = lim.orDefault()
	m := &Message{Raw: raw, lim: lim, work: int64(lim.WorkPerByte)*int64(len(raw)) + 1<<20}
	m.Root = m.parsePart(0, len(raw), 0, false)
	return m
}

// Limits returns the limits the message was parsed with.
func (m *Message) Limits() Limits { return m.lim }

func (m *Message) truncate(reason string) {
	if !m.Truncated {
		m.Truncated, m.Reason = true, reason
	}
}

// parsePart parses the entity in Raw[start:end] at the given depth.
func (m *Message) parsePart(start, end, depth int, inDigest bool) *Part {
	m.Parts++
	p := &Part{Start: start, End: end, Depth: depth}
	p.Header = ReadHeader(m.Raw[start:end], m.lim)
	p.BodyStart = start + p.Header.Len
	if p.Header.Truncated {
		m.truncate("header too large")
	}
	p.Type, p.Subtype, p.Params = contentType(&p.Header, inDigest, m.lim)
	switch {
	case p.Type == "multipart":
		m.parseMultipart(p)
	case p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global"):
		switch enc := p.Encoding(); {
		case enc != "" && enc != "7bit" && enc != "8bit" && enc != "binary":
			p.Opaque = true // an encoded message is not parsed as one
		case depth >= m.lim.MaxDepth:
			p.Opaque = true
			m.truncate("nested too deep")
		case m.Parts >= m.lim.MaxParts:
			p.Opaque = true
			m.truncate("too many parts")
		default:
			p.Message = m.parsePart(p.BodyStart, end, depth+1, false)
		}
	}
	return p
}

func (m *Message) parseMultipart(p *Part) {
	boundary := p.Params["boundary"]
	body := m.Raw[p.BodyStart:p.End]
	switch {
	case boundary == "":
		p.Opaque = true
		return
	case p.Depth >= m.lim.MaxDepth:
		p.Opaque = true
		m.truncate("nested too deep")
		return
	case m.work < int64(len(body)):
		p.Opaque = true
		m.truncate("too much work")
		return
	}
	m.work -= int64(len(body))
	room := m.lim.MaxParts - m.Parts
	ranges, more := splitMultipart(body, boundary, room)
	if more {
		m.truncate("too many parts")
	}
	for _, r := range ranges {
		p.Parts = append(p.Parts, m.parsePart(p.BodyStart+r[0], p.BodyStart+r[1], p.Depth+1, p.Subtype == "digest"))
		if m.Parts >= m.lim.MaxParts {
			if len(p.Parts) < len(ranges) {
				m.truncate("too many parts")
			}
			break
		}
	}
	if len(p.Parts) == 0 {
		p.Opaque = true // no delimiter found: not readable as a multipart
	}
}

// splitMultipart returns the [start, end) offsets of the parts of a
// multipart body (RFC 2046 §5.1.1): what lies between delimiter lines
// ("--" boundary, optional white space), without the line break that
// belongs to the next delimiter. A body without a close delimiter ends
// its last part. At most max parts are returned; more tells if there
// were others.
func splitMultipart(body []byte, boundary string, max int) (ranges [][2]int, more bool) {
	dash := []byte("--" + boundary)
	cur := -1 // start of the current part's content
	for pos := 0; pos < len(body); {
		i := bytes.Index(body[pos:], dash)
		if i < 0 {
			break
		}
		i += pos
		pos = i + 1
		if i > 0 && body[i-1] != '\n' {
			continue // not at the start of a line
		}
		rest := body[i+len(dash):]
		isClose := bytes.HasPrefix(rest, []byte("--"))
		if isClose {
			rest = rest[2:]
		}
		j := 0
		for j < len(rest) && (rest[j] == ' ' || rest[j] == '\t') {
			j++
		}
		lineEnd := len(body)
		switch {
		case j == len(rest):
		case rest[j] == '\n':
			lineEnd = len(body) - len(rest) + j + 1
		case rest[j] == '\r' && j+1 < len(rest) && rest[j+1] == '\n':
			lineEnd = len(body) - len(rest) + j + 2
		case isClose:
			// "--boundary--" followed by text: still the close delimiter.
		default:
			continue // a longer boundary that starts with ours
		}
		if cur >= 0 {
			e := i
			if e > cur && body[e-1] == '\n' {
				e--
				if e > cur && body[e-1] == '\r' {
					e--
				}
			}
			ranges = append(ranges, [2]int{cur, e})
		}
		if isClose {
			return ranges, false
		}
		if len(ranges) >= max {
			return ranges, true
		}
		cur = lineEnd
		pos = lineEnd
	}
	if cur >= 0 && len(ranges) < max {
		ranges = append(ranges, [2]int{cur, len(body)})
	}
	return ranges, false
}

// contentType reads a part's media type: text/plain when it is missing
// or unreadable, message/rfc822 by default in a digest.
func contentType(h *Header, inDigest bool, lim Limits) (typ, sub string, params map[string]string) {
	v := h.Get("Content-Type")
	if len(v) > lim.MaxValueBytes {
		v = v[:lim.MaxValueBytes]
	}
	if v == "" {
		if inDigest {
			return "message", "rfc822", nil
		}
		return "text", "plain", nil
	}
	mt, ps, err := mime.ParseMediaType(v)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		mt = ""
	}
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" || sub == "" {
		return "text", "plain", nil
	}
	for k, pv := range ps {
		if strings.Contains(pv, "=?") {
			ps[k] = DecodeText(pv, lim)
		}
	}
	if len(ps) == 0 {
		ps = nil
	}
	return typ, sub, ps
}

// Body returns the part's body (encoded as written).
func (m *Message) Body(p *Part) []byte { return m.Raw[p.BodyStart:p.End] }

// HeaderBytes returns the part's header section as written, the empty
// line that ends it included.
func (m *Message) HeaderBytes(p *Part) []byte { return m.Raw[p.Start:p.BodyStart] }

// Bytes returns the whole part, header and body.
func (m *Message) Bytes(p *Part) []byte { return m.Raw[p.Start:p.End] }

// Walk calls fn for every part in the tree, depth first, with its path of
// part numbers as IMAP counts them (the children of a multipart are
// 1, 2, ...; the message inside a message/rfc822 part has the part's own
// path). It stops descending where fn returns false.
func (m *Message) Walk(fn func(path []int, p *Part) bool) {
	var walk func(path []int, p *Part)
	walk = func(path []int, p *Part) {
		if !fn(path, p) {
			return
		}
		if p.Message != nil {
			walk(path, p.Message)
			return
		}
		for i, c := range p.Parts {
			walk(append(path[:len(path):len(path)], i+1), c)
		}
	}
	walk(nil, m.Root)
}

// Leaves calls fn for each part that is not a multipart, in order: the
// parts a mail reader shows (text, attachments; a message/rfc822 part is
// one leaf, not opened). It stops when fn returns false.
func (m *Message) Leaves(fn func(p *Part) bool) {
	var walk func(p *Part) bool
	walk = func(p *Part) bool {
		if !p.IsMultipart() {
			return fn(p)
		}
		for _, c := range p.Parts {
			if !walk(c) {
				return false
			}
		}
		return true
	}
	walk(m.Root)
}

// lineBlock is the size of the blocks whose newlines are counted once, so
// that counting the lines of nested parts costs no more than one pass.
const lineBlock = 4096

// Lines returns the number of lines in the part's body (its newlines).
func (m *Message) Lines(p *Part) int64 {
	return int64(m.newlinesBefore(p.End) - m.newlinesBefore(p.BodyStart))
}

func (m *Message) newlinesBefore(off int) int {
	if m.lines == nil {
		m.lines = make([]int, len(m.Raw)/lineBlock+1)
		n := 0
		for i := range m.lines {
			m.lines[i] = n
			if i*lineBlock < len(m.Raw) {
				n += bytes.Count(m.Raw[i*lineBlock:min((i+1)*lineBlock, len(m.Raw))], []byte("\n"))
			}
		}
	}
	b := off / lineBlock
	return m.lines[b] + bytes.Count(m.Raw[b*lineBlock:off], []byte("\n"))
}
