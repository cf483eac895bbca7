// Package mailmsg reads what authsmtp's SMTP services need from the bytes
// of one RFC 5322 message: the header fields (for submission and the MX,
// with the SMTP side's stricter bounds: a header over them is refused,
// not cut) and its line endings. The lines are split by store/mailparse's
// ScanHeader, the one header scanner, which stored mail is read with too.
// It never parses below the header: the body and the MIME tree are not
// touched.
//
// It imports only store/mailparse of authsmtp, so the submission pipeline
// and the MX both use it without importing each other.
package mailmsg

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-message"
	gocharset "github.com/emersion/go-message/charset"

	"github.com/authsmtp/authsmtp/store/mailparse"
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

// Field is one header line unit as it appears in the message: a field
// with its continuation lines, or a line that is no field (the MX keeps
// such lines as they are; Header.Problem says submission refuses them).
type Field = mailparse.Field

// Header is the header section of one message, read by store/mailparse's
// scanner (the one header reader of authsmtp). Fields holds every line
// of the section, in order; Truncated is never set (a header over the
// limits is an error); Get, Has and Values come from mailparse.Header.
type Header struct {
	mailparse.Header
	// Body is the offset of the body in the message (Len): just after the
	// empty line, or the message's length when there is none.
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
	tooMany := false
	h.Len, _ = mailparse.ScanHeader(msg, MaxHeaderBytes, func(f mailparse.Field, problem mailparse.Problem) bool {
		if len(h.Fields) == MaxHeaderFields {
			tooMany = true
			return false
		}
		switch {
		case h.Problem != nil:
		case problem == mailparse.ContinuationOnly:
			h.Problem = errors.New("continuation line without a field")
		case problem != "":
			h.Problem = fmt.Errorf("header line %d has %s", len(h.Fields)+1, problem)
		}
		h.Fields = append(h.Fields, f)
		return true
	})
	h.Body = h.Len
	switch {
	case tooMany:
		return nil, fmt.Errorf("%w: more than %d header fields", ErrHeaderTooLarge, MaxHeaderFields)
	case h.Len > MaxHeaderBytes:
		return nil, fmt.Errorf("%w: header section larger than %d KiB", ErrHeaderTooLarge, MaxHeaderBytes>>10)
	}
	return h, nil
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
