package junk

import (
	"bytes"
	"cmp"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/net/html"
	"golang.org/x/net/publicsuffix"

	"github.com/authsmtp/authsmtp/store/mailparse"
)

// Bounds on what tokenizing one message may cost. The MIME walk is
// bounded in depth (message/rfc822 counts as a level, so a chain of
// nested messages without any multipart stops here too) and in parts;
// the decoded text read per message and the tokens kept are capped, so
// the time and memory of a tokenization are linear in the message and
// bounded above.
const (
	maxDepth     = 8
	maxParts     = 100
	maxText      = 256 << 10 // decoded text read from all parts
	maxHeader    = 256 << 10
	maxReceived  = 8 // Received fields looked at (the newest first)
	maxTokens    = 4000
	minWord      = 3
	maxWord      = 20
	maxTokenSize = 64
)

var wordDecoder = mime.WordDecoder{CharsetReader: charset.Reader}

// Tokenize returns the distinct features of a raw RFC 5322 message that
// the filter learns from: words of the decoded text (all text parts, HTML
// turned to text), the Subject, the From display name and domain, the
// domains the receiving server verified (its Authentication-Results),
// the hosts in Received fields, the host names of links,
// mailers, charsets and attachment types, and pairs of neighbouring
// words. (Header field names are left out: on the corpus they made spam
// sent through mailing lists look like the lists' ham.) Each feature is prefixed
// with where it came from ("s:" subject, "url:" link host, ...), except
// body words. Our own X-Spam-* fields and the ARMethod result in
// Authentication-Results are never read: the filter must not learn its
// own verdicts. Tokenize never fails: a message that does not
// parse gives the features of what could be read plus a "bad:" token.
func Tokenize(msg []byte) []string {
	t := tokenizer{seen: map[string]struct{}{}}
	t.message(msg)
	return t.out
}

type tokenizer struct {
	seen  map[string]struct{}
	out   []string
	text  int // decoded text bytes read so far
	parts int
}

func (t *tokenizer) add(tok string) {
	if len(t.out) >= maxTokens {
		return
	}
	if len(tok) > maxTokenSize {
		tok = tok[:maxTokenSize]
	}
	if _, ok := t.seen[tok]; ok {
		return
	}
	t.seen[tok] = struct{}{}
	t.out = append(t.out, tok)
}

// limits bound the MIME walk: the store's one bounded parser
// (store/mailparse), held tighter for the filter than for IMAP.
var limits = mailparse.Limits{MaxDepth: maxDepth, MaxParts: maxParts, MaxHeaderBytes: maxHeader}

func (t *tokenizer) message(msg []byte) {
	m := mailparse.Parse(msg, limits)
	if badHeaderLine(m.HeaderBytes(m.Root)) {
		t.add("bad:header")
	}
	t.header(&m.Root.Header)
	if m.Truncated {
		switch m.Reason {
		case "nested too deep":
			t.add("bad:depth")
		case "too many parts":
			t.add("bad:parts")
		default:
			t.add("bad:mime")
		}
	}
	m.Walk(func(_ []int, p *mailparse.Part) bool { return t.part(m, p) })
}

// badHeaderLine tells whether a header section has a line that is
// neither a field nor a continuation (mailparse skips those; they mark
// hand-made mail).
func badHeaderLine(h []byte) bool {
	for len(h) > 0 {
		line := h
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i], h[i+1:]
		} else {
			h = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if i := bytes.IndexByte(line, ':'); i <= 0 || bytes.ContainsAny(line[:i], " \t") {
			return true
		}
	}
	return false
}

// header adds the features of the top-level header.
func (t *tokenizer) header(h *mailparse.Header) {
	received, authres := 0, false
	for _, f := range h.Fields {
		name := strings.ToLower(f.Name)
		if strings.HasPrefix(name, "x-spam-") {
			continue
		}
		v := f.Value()
		switch name {
		case "subject":
			s := decodeWords(v)
			t.words("s:", []byte(s))
			if n := upperShare(s); n > 0 {
				t.add("s:caps:" + strconv.Itoa(n))
			}
		case "from":
			t.address("from", v)
		case "reply-to":
			t.address("rt", v)
		case "to", "cc":
			if list, err := mail.ParseAddressList(v); err == nil {
				t.add(name + ":n:" + bucket(len(list)))
			} else {
				t.add(name + ":bad")
			}
		case "message-id":
			if _, d, ok := strings.Cut(v, "@"); ok {
				t.add("mid:" + strings.ToLower(strings.Trim(d, "<> ")))
			} else {
				t.add("mid:bad")
			}
		case "x-mailer", "user-agent":
			t.words("xm:", []byte(v))
		case "received":
			if received < maxReceived {
				t.received(v)
			}
			received++
		case "authentication-results":
			// Only the first that says more than our own junk verdict:
			// the server's, put on top after removing any from outside.
			// The verdict field a recipient's copy carries above it is
			// skipped, so a copy trains as it was scored.
			if !authres && !VerdictOnly(v) {
				t.authResults(v)
				authres = true
			}
		case "content-type":
			if mt, params, err := mime.ParseMediaType(v); err == nil {
				t.add("ct:" + mt)
				if cs := params["charset"]; cs != "" {
					t.add("cs:" + strings.ToLower(cs))
				}
			} else {
				t.add("ct:bad")
			}
		case "precedence", "content-transfer-encoding", "x-priority", "importance":
			t.add(name + ":" + strings.ToLower(strings.TrimSpace(v)))
		}
	}
	t.add("rcvd:n:" + bucket(received))
}

// address adds the display name words and the domain of an address field.
func (t *tokenizer) address(prefix, v string) {
	a, err := mail.ParseAddress(decodeWords(v))
	if err != nil {
		t.add(prefix + ":bad")
		t.words(prefix+":", []byte(v))
		return
	}
	t.words(prefix+"n:", []byte(a.Name))
	if a.Name == "" {
		t.add(prefix + "n:none")
	}
	local, domain, _ := strings.Cut(strings.ToLower(a.Address), "@")
	t.add(prefix + ":" + domain)
	t.add(prefix + ":org:" + orgDomain(domain))
	t.add(prefix + ":local:" + shape(local))
}

var hostRE = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)+`)

// received adds the host names and the IPv4 /24 prefixes of a Received field.
func (t *tokenizer) received(v string) {
	if by, _, ok := strings.Cut(v, ";"); ok {
		v = by // the date says nothing
	}
	for _, h := range hostRE.FindAllString(v, 8) {
		h = strings.ToLower(h)
		if ip := ipPrefix(h); ip != "" {
			t.add("ip:" + ip)
			continue
		}
		t.add("rh:" + h)
		t.add("rh:org:" + orgDomain(h))
	}
	if strings.Contains(v, "unknown") {
		t.add("rh:unknown")
	}
}

// authResults adds what the receiving server verified: DKIM signing
// domains that passed, and the SPF and DMARC results.
func (t *tokenizer) authResults(v string) {
	for _, part := range strings.Split(v, ";") {
		f := strings.Fields(strings.ToLower(part))
		if len(f) == 0 {
			continue
		}
		method, result, _ := strings.Cut(f[0], "=")
		if method == ARMethod {
			continue // our own verdict: never learned from
		}
		switch method {
		case "spf", "dmarc", "dkim":
			t.add("auth:" + method + ":" + result)
		}
		if method == "dkim" && result == "pass" {
			for _, p := range f[1:] {
				if d, ok := strings.CutPrefix(p, "header.d="); ok {
					t.add("dkim:" + d)
				}
			}
		}
	}
}

// part adds the features of one MIME part of the walk: its type,
// transfer encoding and attachment name, and the words of a text part
// (transfer- and charset-decoded). Multipart and message/rfc822 parts
// are walked into by mailparse; Depth counts both kinds of level.
func (t *tokenizer) part(m *mailparse.Message, p *mailparse.Part) bool {
	mt := p.MediaType()
	if p.Depth > 0 {
		t.add("pt:" + mt)
		if cte := p.Encoding(); cte != "" {
			t.add("cte:" + strings.TrimSpace(cte))
		}
	}
	disp, dp, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	name := cmp.Or(dp["filename"], p.Params["name"])
	if strings.Contains(name, "=?") {
		name = mailparse.DecodeText(name, limits)
	}
	if disp == "attachment" || name != "" {
		if i := strings.LastIndexByte(name, '.'); i >= 0 && len(name)-i <= 6 {
			t.add("ext:" + strings.ToLower(name[i+1:]))
		}
		t.add("att:" + mt)
	}
	switch {
	case p.Type == "multipart":
		if p.Opaque || !closed(m.Body(p), p.Params["boundary"]) {
			t.add("bad:part") // no delimiter or no close delimiter: cut short or hand-made
		}
	case p.Type == "text":
		if t.text >= maxText {
			return true
		}
		text, _ := io.ReadAll(io.LimitReader(t.decoded(m, p), int64(maxText-t.text)))
		t.text += len(text)
		if p.Subtype == "html" {
			t.html(text)
		} else {
			t.words("", text)
		}
	}
	return true
}

// closed tells whether a multipart body has its close delimiter: a line
// of "--boundary--" and nothing but white space after it.
func closed(body []byte, boundary string) bool {
	delim := []byte("\n--" + boundary + "--")
	for off := 0; ; {
		i := bytes.Index(body[off:], delim)
		if i < 0 {
			return false
		}
		rest := body[off+i+len(delim):]
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			rest = rest[:j]
		}
		if len(bytes.TrimSpace(rest)) == 0 {
			return true
		}
		off += i + 1
	}
}

// decoded is a text part's body with its transfer encoding undone and
// converted to UTF-8; an encoding or charset no one knows is read as
// written and noted.
func (t *tokenizer) decoded(m *mailparse.Message, p *mailparse.Part) io.Reader {
	switch enc := strings.TrimSpace(p.Encoding()); enc {
	case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
	default:
		t.add("bad:encoding")
	}
	r := m.Decoded(p)
	cs := strings.ToLower(p.Params["charset"])
	switch cs {
	case "", "utf-8", "us-ascii", "ascii":
		return r // read as written (8-bit bytes show as bad:utf8)
	}
	cr, err := charset.Reader(cs, r)
	if err != nil {
		t.add("bad:charset")
		return r
	}
	return cr
}

// html adds the words of an HTML body's text, the hosts of its links and
// images, and the tags that mark a crafted message.
func (t *tokenizer) html(b []byte) {
	z := html.NewTokenizer(bytes.NewReader(b))
	skip := false
	var text bytes.Buffer
	for {
		switch z.Next() {
		case html.ErrorToken:
			t.words("", text.Bytes())
			return
		case html.TextToken:
			if !skip {
				text.Write(z.Text())
				text.WriteByte(' ')
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			skip = tag == "style" || tag == "script"
			switch tag {
			case "img", "form", "iframe", "script", "font", "table", "a", "style", "object", "map", "area", "center", "input":
				t.add("tag:" + tag)
			}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				switch string(k) {
				case "href", "src", "action", "background":
					t.url(string(v))
				case "color", "bgcolor", "size", "face":
					t.add("attr:" + string(k) + ":" + strings.ToLower(string(v)))
				}
			}
		case html.EndTagToken:
			skip = false
		case html.CommentToken:
			t.add("tag:comment")
		}
	}
}

// findURLs returns the links in text: what starts with http://, https://
// or www. and runs to a space, quote, bracket or angle bracket. (A scan,
// not a regular expression: this runs over every byte of every message.)
func findURLs(text []byte, limit int) []string {
	lower := bytes.ToLower(text)
	var out []string
	for off := 0; off < len(lower) && len(out) < limit; {
		i := indexLink(lower[off:])
		if i < 0 {
			break
		}
		start := off + i
		end := start
		for end < len(lower) && !endsLink(lower[end]) {
			end++
		}
		out = append(out, string(lower[start:end]))
		off = end
	}
	return out
}

func endsLink(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '<', '>', '"', '\'', '(', ')':
		return true
	}
	return false
}

// indexLink is the offset of the first link start in b, or -1.
func indexLink(b []byte) int {
	best := -1
	for _, p := range [][]byte{[]byte("http://"), []byte("https://"), []byte("www.")} {
		if i := bytes.Index(b, p); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	return best
}

// url adds the host of a link (and its organizational domain) or the kind
// of a non-web link.
func (t *tokenizer) url(u string) {
	u = strings.TrimSpace(u)
	lu := strings.ToLower(u)
	switch {
	case strings.HasPrefix(lu, "mailto:"):
		t.add("url:mailto")
		if _, d, ok := strings.Cut(lu, "@"); ok {
			d, _, _ = strings.Cut(d, "?")
			t.add("url:mailto:" + d)
		}
		return
	case strings.HasPrefix(lu, "http://"), strings.HasPrefix(lu, "https://"):
		t.add("url:" + lu[:strings.IndexByte(lu, ':')])
		lu = lu[strings.Index(lu, "//")+2:]
	case strings.HasPrefix(lu, "www."):
	default:
		if i := strings.IndexByte(lu, ':'); i > 0 && i < 12 {
			t.add("url:scheme:" + lu[:i])
		}
		return
	}
	host := lu
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		t.add("url:userinfo")
		host = host[i+1:]
	}
	if h, port, ok := strings.Cut(host, ":"); ok {
		host = h
		t.add("url:port:" + port)
	}
	if host == "" {
		return
	}
	if ipPrefix(host) != "" {
		t.add("url:ip")
		return
	}
	t.add("url:" + host)
	t.add("url:org:" + orgDomain(host))
	if path := lu[len(host):]; len(path) > 1 {
		for _, w := range strings.FieldsFunc(path, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			if len(w) >= minWord && len(w) <= maxWord {
				t.add("up:" + w)
			}
		}
	}
}

// words adds the words of text with prefix, and the hosts of the URLs in it.
func (t *tokenizer) words(prefix string, text []byte) {
	if prefix == "" {
		for _, u := range findURLs(text, 200) {
			t.url(u)
		}
	}
	s := string(text)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, " ")
		t.add(prefix + "bad:utf8")
	}
	prev := ""
	for _, w := range strings.FieldsFunc(s, splitWord) {
		w = strings.Trim(w, ".-'!")
		n := utf8.RuneCountInString(w)
		switch {
		case n < minWord:
			continue
		case n > maxWord:
			r, _ := utf8.DecodeRuneInString(w)
			t.add(prefix + "skip:" + string(unicode.ToLower(r)) + ":" + strconv.Itoa(n/10*10))
			continue
		}
		lw := strings.ToLower(w)
		t.add(prefix + lw)
		if prev != "" {
			t.add(prefix + prev + " " + lw)
		}
		prev = lw
		if prefix == "" && n >= 4 && lw != w && strings.ToUpper(w) == w {
			t.add("caps:" + lw)
		}
		if len(t.out) >= maxTokens {
			return
		}
	}
}

func splitWord(r rune) bool {
	return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '$' || r == '\'' || r == '-' || r == '.' || r == '!' || r == '%')
}

// decodeWords decodes RFC 2047 encoded words; undecodable text is kept.
func decodeWords(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// upperShare is the share of upper-case letters in s in tenths (0 when
// s has fewer than 8 letters).
func upperShare(s string) int {
	letters, upper := 0, 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	if letters < 8 {
		return 0
	}
	return upper * 10 / letters
}

// shape describes a local part without its letters: "a9" for letters then
// digits, and its length class; spam senders' generated names show here.
func shape(local string) string {
	var b strings.Builder
	last := rune(0)
	for _, r := range local {
		c := 'x'
		switch {
		case unicode.IsLetter(r):
			c = 'a'
		case unicode.IsDigit(r):
			c = '9'
		}
		if c != last {
			b.WriteRune(c)
			last = c
		}
		if b.Len() > 8 {
			break
		}
	}
	return b.String() + ":" + bucket(len(local))
}

// bucket groups a count: 0..5 as is, then powers of two.
func bucket(n int) string {
	if n <= 5 {
		return strconv.Itoa(n)
	}
	b := 8
	for b < n && b < 1<<20 {
		b *= 2
	}
	return "le" + strconv.Itoa(b)
}

// ipPrefix returns the /24 of a dotted IPv4 address, "" for other text.
func ipPrefix(s string) string {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return ""
	}
	for _, p := range parts {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 255 {
			return ""
		}
	}
	return strings.Join(parts[:3], ".")
}

// orgDomain is the registrable domain of host by the public suffix list.
func orgDomain(host string) string {
	if o, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return o
	}
	return host
}
