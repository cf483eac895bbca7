package smtp

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-message"
)

// Limits of the header scan: a header bigger than this, or with more
// fields, is refused rather than parsed (SECURITY.md: 100k To: lines, a
// 10 MB header).
const (
	maxHeaderBytes  = 1 << 20
	maxHeaderFields = 2000
)

// header is what the pipeline needs from a message header, read without
// parsing anything below it (the body and MIME tree are never touched).
type header struct {
	from, sender     []string // unfolded raw values, one per field
	rawSubject       string
	hasDate          bool
	hasMessageID     bool
	fields, headerSz int
}

// scanHeader reads the header section of msg (CRLF line endings, already
// checked): fields up to the first empty line, continuation lines joined.
// Several From: or Sender: fields are all kept, so each address is checked.
func scanHeader(msg []byte) (*header, error) {
	h := &header{}
	rest := msg
	var name string
	var value []byte
	flush := func() {
		if name == "" {
			return
		}
		v := string(unfold(value))
		switch {
		case strings.EqualFold(name, "From"):
			h.from = append(h.from, v)
		case strings.EqualFold(name, "Sender"):
			h.sender = append(h.sender, v)
		case strings.EqualFold(name, "Subject"):
			if h.rawSubject == "" {
				h.rawSubject = v
			}
		case strings.EqualFold(name, "Date"):
			h.hasDate = true
		case strings.EqualFold(name, "Message-ID"):
			h.hasMessageID = true
		}
		name, value = "", nil
	}
	for len(rest) > 0 {
		i := bytes.Index(rest, []byte("\r\n"))
		var line []byte
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i], rest[i+2:]
		}
		h.headerSz += len(line) + 2
		if h.headerSz > maxHeaderBytes {
			return nil, errors.New("header section larger than 1 MiB")
		}
		if len(line) == 0 {
			break // end of the header section
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name == "" {
				return nil, errors.New("continuation line without a field")
			}
			value = append(value, line...) // unfolding drops only the CRLF
			continue
		}
		flush()
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return nil, fmt.Errorf("header line %d has no field name", h.fields+1)
		}
		key := bytes.TrimRight(line[:colon], " \t")
		for _, c := range key {
			if c < 33 || c > 126 {
				return nil, fmt.Errorf("header line %d has an invalid field name", h.fields+1)
			}
		}
		h.fields++
		if h.fields > maxHeaderFields {
			return nil, fmt.Errorf("more than %d header fields", maxHeaderFields)
		}
		name = string(key)
		value = append([]byte(nil), line[colon+1:]...)
	}
	flush()
	return h, nil
}

// unfold turns a folded value into one line (RFC 5322 §2.2.3) and trims it.
func unfold(v []byte) []byte {
	return bytes.TrimSpace(v)
}

// subject returns the decoded Subject for queue listings.
func (h *header) subject() string {
	dec := mime.WordDecoder{CharsetReader: message.CharsetReader}
	s, err := dec.DecodeHeader(h.rawSubject)
	if err != nil {
		s = h.rawSubject
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// parseAddressList parses an address-list field value (groups, display
// names and encoded words included) and returns the bare addresses.
func parseAddressList(v string) ([]string, error) {
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

// bareNewline returns the offset of the first CR not followed by LF or LF
// not preceded by CR, or -1. Such line endings are how SMTP smuggling
// hides a second message; they are refused, never repaired.
func bareNewline(msg []byte) int {
	lines := 0
	for off := 0; ; {
		i := bytes.IndexByte(msg[off:], '\n')
		if i < 0 {
			break
		}
		i += off
		if i == 0 || msg[i-1] != '\r' {
			return i
		}
		lines++
		off = i + 1
	}
	// Every LF has its CR; any other CR is bare.
	if bytes.Count(msg, []byte{'\r'}) == lines {
		return -1
	}
	for i, c := range msg {
		if c == '\r' && (i+1 >= len(msg) || msg[i+1] != '\n') {
			return i
		}
	}
	return -1
}

// NormalizeCRLF returns msg with every line ending as CRLF, for messages
// built in memory (webmail) rather than received over SMTP.
func NormalizeCRLF(msg []byte) []byte {
	if bareNewline(msg) < 0 {
		return msg
	}
	out := make([]byte, 0, len(msg)+len(msg)/32)
	for i := 0; i < len(msg); i++ {
		switch c := msg[i]; c {
		case '\r':
			if i+1 < len(msg) && msg[i+1] == '\n' {
				i++
			}
			out = append(out, '\r', '\n')
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}
