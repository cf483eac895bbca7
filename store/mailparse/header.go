package mailparse

import (
	"bytes"
	"mime"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Field is one header field as it was written.
type Field struct {
	// Name is the field name, as written (compare it with EqualFold).
	Name string
	// Raw is the whole field, first line to last continuation line with
	// their line ends: a slice of the message, never a copy.
	Raw []byte
}

// Value returns the field's value unfolded (line breaks and the white
// space around them become one space) and trimmed.
func (f Field) Value() string {
	_, v, _ := bytes.Cut(f.Raw, []byte(":"))
	return unfold(v)
}

// Header is a header section read within the limits.
type Header struct {
	// Fields are the fields read, in order. Lines that are not fields
	// (no colon, a bad name, a continuation with nothing to continue)
	// are skipped.
	Fields []Field
	// Len is the length of the header section, the empty line that ends
	// it included: the body starts there. Without an empty line the
	// whole input is header.
	Len int
	// Truncated is set when fields were left unread: more than
	// Limits.MaxHeaderFields of them, or past Limits.MaxHeaderBytes.
	Truncated bool
}

// ReadHeader reads the header section at the start of b. Only the first
// MaxHeaderBytes are looked at line by line; the end of a larger header
// is found by one fast scan, so a 10 MB header costs no more than that.
func ReadHeader(b []byte, lim Limits) Header {
	lim = lim.orDefault()
	h := Header{Len: headerEnd(b)}
	last := -1 // index of the field the previous line belonged to
	for off := 0; off < h.Len; {
		if off >= lim.MaxHeaderBytes {
			h.Truncated = true
			break
		}
		next := h.Len
		if i := bytes.IndexByte(b[off:h.Len], '\n'); i >= 0 {
			next = off + i + 1
		}
		line := trimEOL(b[off:next])
		switch {
		case len(line) == 0:
			// the empty line ending the header
		case line[0] == ' ' || line[0] == '\t':
			if last >= 0 {
				f := &h.Fields[last]
				f.Raw = b[off-len(f.Raw) : next]
			}
		default:
			last = -1
			name, ok := fieldName(line)
			if !ok {
				break
			}
			if len(h.Fields) >= lim.MaxHeaderFields {
				h.Truncated = true
				return h
			}
			h.Fields = append(h.Fields, Field{Name: name, Raw: b[off:next]})
			last = len(h.Fields) - 1
		}
		off = next
	}
	return h
}

// fieldName returns the name of a field line, if it is one: RFC 5322
// §2.2, printable ASCII but the colon (white space before the colon is
// tolerated, as it is common).
func fieldName(line []byte) (string, bool) {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return "", false
	}
	name := bytes.TrimRight(line[:colon], " \t")
	if len(name) == 0 {
		return "", false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return "", false
		}
	}
	return string(name), true
}

// HeaderLen returns the length of the header section at the start of b,
// the empty line that ends it included (len(b) if there is none): where
// the body starts.
func HeaderLen(b []byte) int { return headerEnd(b) }

// NULInHeader returns the offset of the first NUL byte in the header
// section of msg, or -1. RFC 5322 §2.2 allows none in a field; a NUL hides
// the rest of a field from C programs that read it.
func NULInHeader(msg []byte) int {
	i := bytes.IndexByte(msg, 0)
	if i < 0 || i >= headerEnd(msg) {
		return -1 // none, or the first is in the body
	}
	return i
}

// headerEnd returns the offset just after the empty line ending the header
// section at the start of b, or len(b) if there is none.
func headerEnd(b []byte) int {
	switch {
	case bytes.HasPrefix(b, []byte("\r\n")):
		return 2
	case bytes.HasPrefix(b, []byte("\n")):
		return 1
	}
	end := len(b)
	if i := bytes.Index(b, []byte("\n\r\n")); i >= 0 {
		end = i + 3
	}
	// A bare-LF blank line before it (mail from an import) ends it too.
	if i := bytes.Index(b[:min(end, len(b))], []byte("\n\n")); i >= 0 && i+2 < end {
		end = i + 2
	}
	return end
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// unfold joins the lines of a value with one space, trimming the white
// space around each line break and at both ends (as go-message does).
func unfold(v []byte) string {
	var sb strings.Builder
	sb.Grow(len(v))
	for len(v) > 0 {
		line := v
		if i := bytes.IndexByte(v, '\n'); i >= 0 {
			line, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		line = bytes.Trim(line, " \t\r")
		if len(line) == 0 {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.Write(line)
	}
	return sb.String()
}

// EnvelopeFields are the fields an IMAP envelope or a message list reads.
var EnvelopeFields = []string{"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To", "Message-Id"}

// Get returns the value of the first field named name ("" if none).
func (h *Header) Get(name string) string {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value()
		}
	}
	return ""
}

// Has tells whether a field named name was read.
func (h *Header) Has(name string) bool {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// Values returns the values of every field named name, in order.
func (h *Header) Values(name string) []string {
	var out []string
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value())
		}
	}
	return out
}

// Textproto returns the fields as a go-message header, for its decoders
// (addresses, dates, message ids, parameters): all of them, or only those
// named. Each field is cut to MaxValueBytes and to MaxEncodedWords
// encoded words first, so no decoder sees more.
func (h *Header) Textproto(lim Limits, names ...string) textproto.Header {
	lim = lim.orDefault()
	var th textproto.Header
	// go-message keeps fields last-first (Get returns the last added):
	// adding in reverse makes Get return the first field written, as
	// after textproto.ReadHeader.
	for i := len(h.Fields) - 1; i >= 0; i-- {
		if len(names) > 0 && !nameIn(h.Fields[i].Name, names) {
			continue
		}
		th.AddRaw(boundField(h.Fields[i].Raw, lim))
	}
	return th
}

func nameIn(name string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// Mail is Textproto wrapped in go-message's mail.Header.
func (h *Header) Mail(lim Limits, names ...string) mail.Header {
	return mail.Header{Header: message.Header{Header: h.Textproto(lim, names...)}}
}

// boundField cuts a raw field to the value limits, ending it with CRLF.
func boundField(raw []byte, lim Limits) []byte {
	cut := len(raw)
	if cut > lim.MaxValueBytes {
		cut = lim.MaxValueBytes
		// Prefer to cut after a comma: an address list cut there still parses.
		if i := bytes.LastIndexByte(raw[:cut], ','); i > bytes.IndexByte(raw, ':') {
			cut = i
		}
	}
	n, off := 0, 0
	for {
		i := bytes.Index(raw[off:cut], []byte("=?"))
		if i < 0 {
			break
		}
		n++
		if n > lim.MaxEncodedWords {
			cut = off + i
			break
		}
		off += i + 2
	}
	if cut == len(raw) {
		return raw
	}
	out := make([]byte, 0, cut+2)
	out = append(out, trimEOL(raw[:cut])...)
	return append(out, '\r', '\n')
}

// wordDecoder decodes RFC 2047 encoded words in any charset go-message knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// DecodeText decodes the encoded words of an unstructured value (a
// Subject, a parameter), at most MaxEncodedWords of them; the rest is
// left as written. A value that does not decode is returned as is.
func DecodeText(v string, lim Limits) string {
	lim = lim.orDefault()
	if !strings.Contains(v, "=?") {
		return v
	}
	if len(v) > lim.MaxValueBytes {
		v = v[:lim.MaxValueBytes]
	}
	head, tail := v, ""
	n, off := 0, 0
	for {
		i := strings.Index(v[off:], "=?")
		if i < 0 {
			break
		}
		if n++; n > lim.MaxEncodedWords {
			head, tail = v[:off+i], v[off+i:]
			break
		}
		off += i + 2
	}
	dec, err := wordDecoder.DecodeHeader(head)
	if err != nil {
		return v
	}
	return dec + tail
}
