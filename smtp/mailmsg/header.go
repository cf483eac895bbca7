// Package mailmsg reads what authsmtp's SMTP services need from the bytes
// of one RFC 5322 message: the header fields (one scanner for submission
// and the MX) and its line endings. It never parses below the header: the
// body and the MIME tree are not touched.
//
// It imports nothing of authsmtp, so the submission pipeline and the MX
// both use it without importing each other.
package mailmsg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-message"
	gocharset "github.com/emersion/go-message/charset"
)

// Limits of the header scan: a header bigger than this, or with more
// fields, is refused rather than parsed (SECURITY.md: 100k To: lines, a
// 10 MB header).
const (
	MaxHeaderBytes  = 1 << 20
	MaxHeaderFields = 2000
)

// ErrHeaderTooLarge is a header section over MaxHeaderBytes or
// MaxHeaderFields.
var ErrHeaderTooLarge = errors.New("message header too large")

// Field is one header field as it appears in the message.
type Field struct {
	Name string // the field name, as written, without trailing blanks
	Raw  []byte // the field's lines with their CRLFs (a slice of the message)
}

// Value is the field's value unfolded into one line (RFC 5322 §2.2.3)
// and trimmed.
func (f Field) Value() string {
	_, v, _ := bytes.Cut(f.Raw, []byte(":"))
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	return string(bytes.TrimSpace(v))
}

// Header is the header section of one message.
type Header struct {
	Fields []Field
	// Body is the offset of the body in the message: just after the empty
	// line, or the message's length when there is none.
	Body int
	// Problem is the first syntax error met (a line without a field name,
	// a continuation line before any field), or nil. The scan goes on past
	// it: the MX takes such mail, submission refuses it.
	Problem error
}

// Scan reads the header section of msg, whose lines end in CRLF (checked
// before, see BareNewline): fields up to the first empty line. Its only
// error is ErrHeaderTooLarge.
func Scan(msg []byte) (*Header, error) {
	h := &Header{}
	problem := func(format string, args ...any) {
		if h.Problem == nil {
			h.Problem = fmt.Errorf(format, args...)
		}
	}
	off := 0
	for off < len(msg) {
		end := bytes.Index(msg[off:], []byte("\r\n"))
		if end < 0 {
			end = len(msg)
		} else {
			end += off + 2
		}
		line := msg[off:end]
		if end > MaxHeaderBytes {
			return nil, fmt.Errorf("%w: header section larger than %d KiB", ErrHeaderTooLarge, MaxHeaderBytes>>10)
		}
		if len(line) == 2 && line[0] == '\r' {
			h.Body = end // the empty line ends the header section
			return h, nil
		}
		if (line[0] == ' ' || line[0] == '\t') && len(h.Fields) > 0 {
			f := &h.Fields[len(h.Fields)-1]
			f.Raw = msg[end-len(line)-len(f.Raw) : end]
			off = end
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			problem("continuation line without a field")
		}
		if len(h.Fields) == MaxHeaderFields {
			return nil, fmt.Errorf("%w: more than %d header fields", ErrHeaderTooLarge, MaxHeaderFields)
		}
		name, _, found := bytes.Cut(line, []byte(":"))
		name = bytes.TrimRight(name, " \t")
		switch {
		case !found || len(name) == 0:
			problem("header line %d has no field name", len(h.Fields)+1)
			name = bytes.TrimSpace(bytes.TrimSuffix(line, []byte("\r\n")))
		case !validName(name):
			problem("header line %d has an invalid field name", len(h.Fields)+1)
		}
		h.Fields = append(h.Fields, Field{Name: string(name), Raw: line})
		off = end
	}
	h.Body = len(msg)
	return h, nil
}

// validName: printable ASCII but the colon (RFC 5322 §3.6.8 ftext).
func validName(name []byte) bool {
	for _, c := range name {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// Values returns the unfolded values of every field named name (case
// ignored), in order.
func (h *Header) Values(name string) []string {
	var out []string
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value())
		}
	}
	return out
}

// Get returns the value of the first field named name, or "".
func (h *Header) Get(name string) string {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value()
		}
	}
	return ""
}

// Count returns how many fields are named name.
func (h *Header) Count(name string) int {
	n := 0
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			n++
		}
	}
	return n
}

// Has reports whether a field named name is present.
func (h *Header) Has(name string) bool {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// Subject returns the first Subject decoded (encoded words), cut to 200
// bytes, for queue listings and auto-replies.
func (h *Header) Subject() string {
	raw := h.Get("Subject")
	dec := mime.WordDecoder{CharsetReader: message.CharsetReader}
	s, err := dec.DecodeHeader(raw)
	if err != nil {
		s = raw
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// ParseAddressList parses an address-list field value (groups, display
// names and encoded words included) and returns the bare addresses.
func ParseAddressList(v string) ([]string, error) {
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: message.CharsetReader}}
	list, err := p.ParseList(v)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, a.Address)
	}
	return out, nil
}

// maxFromDomains bounds how many author domains FromDomains returns (and
// so how many DMARC lookups one message may cost).
const maxFromDomains = 5

// FromDomains returns the distinct domains (lower case, as written) of
// every address in every From: field, for DMARC on inbound mail. It reads
// what real mail holds, not only what RFC 5322 allows: display names in
// raw 8-bit or in encoded words of any charset, several addresses, several
// fields. A value the address parser refuses still yields the domains
// written after an "@", so an unparsable From: cannot hide a domain from
// DMARC. At most maxFromDomains are returned; none means no usable From:.
func (h *Header) FromDomains() []string {
	var out []string
	add := func(d string) {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		if d == "" || len(out) >= maxFromDomains {
			return
		}
		for _, x := range out {
			if x == d {
				return
			}
		}
		out = append(out, d)
	}
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: lenientCharset}}
	for _, v := range h.Values("From") {
		list, err := p.ParseList(v)
		if err == nil {
			for _, a := range list {
				if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
					add(a.Address[at+1:])
				}
			}
			continue
		}
		for _, d := range domainsAfterAt(v) {
			add(d)
		}
	}
	return out
}

// domainsAfterAt finds every run of host-name characters written after an
// "@" in v (an address literal "[...]" is no domain).
func domainsAfterAt(v string) []string {
	var out []string
	for i := 0; i < len(v); i++ {
		if v[i] != '@' {
			continue
		}
		j := i + 1
		for j < len(v) && (v[j] >= 'a' && v[j] <= 'z' || v[j] >= 'A' && v[j] <= 'Z' || v[j] >= '0' && v[j] <= '9' || v[j] == '-' || v[j] == '.') {
			j++
		}
		if j > i+1 && strings.Contains(v[i+1:j], ".") {
			out = append(out, v[i+1:j])
		}
	}
	return out
}

// lenientCharset decodes the charsets go-message knows and passes any
// other through as it is: a display name in an unknown charset must not
// make the address beside it unreadable.
func lenientCharset(charset string, input io.Reader) (io.Reader, error) {
	if r, err := gocharset.Reader(charset, input); err == nil {
		return r, nil
	}
	return input, nil
}
