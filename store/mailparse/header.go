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
// Lines that are not fields (and their continuation lines) are skipped.
func ReadHeader(b []byte, lim Limits) Header {
	lim = lim.orDefault()
	var h Header
	tooMany := false
	length, truncated := ScanHeader(b, lim.MaxHeaderBytes, func(f Field, problem Problem) bool {
		if problem != "" {
			return true
		}
		if len(h.Fields) >= lim.MaxHeaderFields {
			tooMany = true
			return false
		}
		h.Fields = append(h.Fields, f)
		return true
	})
	h.Len, h.Truncated = length, truncated || tooMany
	return h
}

// Problem says why a header line is not a field ("" for a field).
type Problem string

// The problems ScanHeader reports.
const (
	NoFieldName      Problem = "no field name"
	InvalidFieldName Problem = "an invalid field name"
	ContinuationOnly Problem = "a continuation line without a field"
)

// ScanHeader is the one header scanner: ReadHeader (stored mail) and the
// SMTP services' reader (smtp/mailmsg) are both built on it. It walks the
// header section at the start of b and calls fn for every unit in order:
// a line that starts a field, or one that is not a field (problem says
// why), each with the continuation lines after it; Raw is a slice of b
// covering all its lines, so the units put together are the header
// section less the empty line that ends it. It stops when fn returns
// false, or at the first line starting at or past maxBytes (truncated);
// it returns the header's length, the empty line included (len(b) when
// there is none): where the body starts. CRLF and bare LF line ends are
// both taken.
func ScanHeader(b []byte, maxBytes int, fn func(f Field, problem Problem) bool) (length int, truncated bool) {
	length = headerEnd(b)
	var cur Field
	var curProblem Problem
	start := -1 // offset of the unit in progress
	flush := func(end int) bool {
		if start < 0 {
			return true
		}
		cur.Raw = b[start:end]
		ok := fn(cur, curProblem)
		start = -1
		return ok
	}
	for off := 0; off < length; {
		if off >= maxBytes {
			flush(off)
			return length, true
		}
		next := length
		if i := bytes.IndexByte(b[off:length], '\n'); i >= 0 {
			next = off + i + 1
		}
		line := trimEOL(b[off:next])
		switch {
		case len(line) == 0:
			// the empty line that ends the header
			if !flush(off) {
				return length, false
			}
		case (line[0] == ' ' || line[0] == '\t') && start >= 0:
			// a continuation line: part of the unit in progress
		default:
			if !flush(off) {
				return length, false
			}
			start = off
			cur.Name, curProblem = fieldName(line)
			if line[0] == ' ' || line[0] == '\t' {
				curProblem = ContinuationOnly
			}
		}
		off = next
	}
	flush(length)
	return length, false
}

// fieldName returns the name of a field line and, if it is not one, why:
// a field name is printable ASCII but the colon (RFC 5322 §2.2; white
// space before the colon is tolerated, as it is common). A line that is
// no field is named by itself, trimmed.
func fieldName(line []byte) (string, Problem) {
	colon := bytes.IndexByte(line, ':')
	var name []byte
	if colon >= 0 {
		name = bytes.TrimRight(line[:colon], " \t")
	}
	if len(name) == 0 {
		return string(bytes.TrimSpace(line)), NoFieldName
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return string(name), InvalidFieldName
		}
	}
	return string(name), ""
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
