package webui

import (
	"io"
	"mime"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode non-UTF-8 mail
	"github.com/emersion/go-message/mail"
	"github.com/microcosm-cc/bluemonday"

	"github.com/authsmtp/authsmtp/store/mailparse"
)

// Bounds on what one message may cost to show, beyond those of the
// parse itself (store/mailparse: depth, parts, header sizes, work).
const (
	maxParts    = 200
	maxTextShow = 2 << 20
)

// envelope is what the message list shows.
type envelope struct {
	UID      uint32
	From     string // display name or address
	FromAddr string
	To       string
	Subject  string
	Date     time.Time
	Size     int64
	Seen     bool
	Flagged  bool
	Answered bool
	HasAtt   bool
}

// readEnvelope parses only the header block of raw, within the parse
// limits: only the fields a message list shows.
func readEnvelope(raw []byte) (mail.Header, error) {
	h := mailparse.ReadHeader(raw, mailparse.Limits{})
	return h.Mail(mailparse.Limits{}, listFields...), nil
}

// listFields are the header fields the message list and page read.
var listFields = append([]string{"Content-Type", "References"}, mailparse.EnvelopeFields...)

func fillEnvelope(e *envelope, h mail.Header) {
	e.Subject, _ = h.Subject()
	if e.Subject == "" {
		e.Subject = h.Get("Subject")
	}
	if from, err := h.AddressList("From"); err == nil && len(from) > 0 {
		e.FromAddr = from[0].Address
		e.From = from[0].Name
		if e.From == "" {
			e.From = from[0].Address
		}
	} else {
		e.From = h.Get("From")
	}
	if to, err := h.AddressList("To"); err == nil {
		var names []string
		for _, a := range to {
			names = append(names, a.Address)
		}
		e.To = strings.Join(names, ", ")
	}
	if d, err := h.Date(); err == nil {
		e.Date = d
	}
	ct, _, _ := h.ContentType()
	e.HasAtt = strings.HasPrefix(ct, "multipart/mixed")
}

// attachment is one downloadable part.
type attachment struct {
	Index int
	Name  string
	Type  string
	Size  int
}

// parsed is a message ready to show.
type parsed struct {
	envelope
	Cc         string
	ReplyTo    string
	MessageID  string
	References string
	Text       string
	HTML       string // raw HTML part; only ever sent through sanitizeHTML
	Atts       []attachment
	Truncated  bool
}

// walkParts calls fn for each leaf part, in order, with its index: the
// parts of the bounded parse (a message/rfc822 part is one leaf), each
// with its header and its decoded body, at most maxParts of them.
func walkParts(raw []byte, fn func(i int, p *mail.Part) bool) mail.Header {
	m := mailparse.Parse(raw, mailparse.Limits{})
	i := 0
	m.Leaves(func(p *mailparse.Part) bool {
		if i >= maxParts {
			return false
		}
		h := message.Header{Header: p.Header.Textproto(m.Limits())}
		mp := &mail.Part{Body: m.Decoded(p)}
		disp, _, _ := h.ContentDisposition()
		if disp == "inline" || (disp != "attachment" && p.Type == "text") {
			mp.Header = &mail.InlineHeader{Header: h}
			mp.Body = m.DecodedText(p)
		} else {
			mp.Header = &mail.AttachmentHeader{Header: h}
		}
		ok := fn(i, mp)
		i++
		return ok
	})
	return m.Root.Header.Mail(m.Limits(), listFields...)
}

func parseMessage(raw []byte) parsed {
	var m parsed
	h := walkParts(raw, func(i int, p *mail.Part) bool {
		switch ph := p.Header.(type) {
		case *mail.InlineHeader:
			ct, _, _ := ph.ContentType()
			b, _ := io.ReadAll(io.LimitReader(p.Body, maxTextShow+1))
			if len(b) > maxTextShow {
				b, m.Truncated = b[:maxTextShow], true
			}
			switch {
			case ct == "text/html" && m.HTML == "":
				m.HTML = string(b)
			case (ct == "text/plain" || ct == "") && m.Text == "":
				m.Text = string(b)
			default:
				m.Atts = append(m.Atts, attachment{Index: i, Name: partName(&ph.Header, i), Type: ct, Size: len(b)})
			}
		case *mail.AttachmentHeader:
			ct, _, _ := ph.ContentType()
			n, _ := io.Copy(io.Discard, io.LimitReader(p.Body, 64<<20))
			name, _ := ph.Filename()
			if name == "" {
				name = partName(&ph.Header, i)
			}
			m.Atts = append(m.Atts, attachment{Index: i, Name: name, Type: ct, Size: int(n)})
		}
		return true
	})
	fillEnvelope(&m.envelope, h)
	if cc, err := h.AddressList("Cc"); err == nil {
		var l []string
		for _, a := range cc {
			l = append(l, a.Address)
		}
		m.Cc = strings.Join(l, ", ")
	}
	if rt, err := h.AddressList("Reply-To"); err == nil && len(rt) > 0 {
		m.ReplyTo = rt[0].Address
	}
	m.MessageID, _ = h.MessageID()
	m.References = h.Get("References")
	if !utf8.ValidString(m.Text) {
		m.Text = strings.ToValidUTF8(m.Text, "\uFFFD")
	}
	m.HasAtt = len(m.Atts) > 0
	return m
}

func partName(h *message.Header, i int) string {
	_, params, _ := h.ContentType()
	if n := params["name"]; n != "" {
		return n
	}
	return "part-" + itoa(i+1)
}

// partBody returns the decoded body and header of leaf part idx.
func partBody(raw []byte, idx int) (body []byte, name, ctype string, ok bool) {
	walkParts(raw, func(i int, p *mail.Part) bool {
		if i != idx {
			return true
		}
		var h *message.Header
		switch ph := p.Header.(type) {
		case *mail.InlineHeader:
			h = &ph.Header
		case *mail.AttachmentHeader:
			h = &ph.Header
			name, _ = ph.Filename()
		}
		if h != nil {
			ctype, _, _ = h.ContentType()
			if name == "" {
				name = partName(h, i)
			}
		}
		body, _ = io.ReadAll(io.LimitReader(p.Body, 64<<20))
		ok = true
		return false
	})
	return body, name, ctype, ok
}

var safeStyle = regexp.MustCompile(`^[^()\\@<>]*$`)

// newSanitizer builds the second layer of defence for HTML mail (the first is
// the sandboxed iframe and its CSP): it strips scripts, event handlers,
// forms, base, meta and style elements, and keeps images only as data:
// URIs unless the reader asked for remote images.
func newSanitizer(remoteImages bool) *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowDataURIImages()
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireNoFollowOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	// Inline styles stay (mail layout depends on them) unless they could
	// load or run anything: no parentheses (url(), expression()), no
	// backslash escapes, no at-rules.
	p.AllowAttrs("style").Matching(safeStyle).Globally()
	p.AllowAttrs("bgcolor", "color", "align", "valign", "width", "height", "border", "cellpadding", "cellspacing").Globally()
	if !remoteImages {
		p.RewriteSrc(func(u *url.URL) {
			if u.Scheme != "data" {
				*u = url.URL{}
			}
		})
	}
	return p
}

// sanitize runs the prepared policy (policies are safe for concurrent use).
func (s *Server) sanitize(html string, remoteImages bool) string {
	if remoteImages {
		return s.htmlImages.Sanitize(html)
	}
	return s.htmlStrict.Sanitize(html)
}

// hasRemoteImages tells whether the page should offer "show images".
func hasRemoteImages(html string) bool {
	l := strings.ToLower(html)
	return strings.Contains(l, "src=\"http") || strings.Contains(l, "src='http") || strings.Contains(l, "src=http") || strings.Contains(l, "url(")
}

// contentDisposition builds an attachment header with a safe file name.
func contentDisposition(name string) string {
	if name == "" || hasCRLF(name) {
		name = "attachment"
	}
	return mime.FormatMediaType("attachment", map[string]string{"filename": name})
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	if i == 0 {
		return "0"
	}
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}
