package mailparse

import (
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/internal/mailtest"
)

const nested = "From: a@x.test\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
	"preamble\r\n" +
	"--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n" +
	"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain text\r\nline two\r\n" +
	"--inner\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=C3=A9</p>\r\n" +
	"--inner--\r\n" +
	"--outer\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n" +
	"Subject: inside\r\n\r\ninner body\r\n" +
	"--outer\r\nContent-Type: application/octet-stream; name=\"f.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n" +
	"--outer--\r\nepilogue\r\n"

func TestParseTree(t *testing.T) {
	m := Parse([]byte(nested), Limits{})
	if m.Truncated || m.Parts != 7 {
		t.Fatalf("truncated %v (%s), %d parts", m.Truncated, m.Reason, m.Parts)
	}
	root := m.Root
	if root.MediaType() != "multipart/mixed" || len(root.Parts) != 3 || root.Header.Get("subject") != "=?utf-8?q?caf=C3=A9?=" {
		t.Fatalf("root %s with %d parts", root.MediaType(), len(root.Parts))
	}
	alt := root.Parts[0]
	if alt.MediaType() != "multipart/alternative" || len(alt.Parts) != 2 {
		t.Fatalf("first part %s %d", alt.MediaType(), len(alt.Parts))
	}
	if got := string(m.Body(alt.Parts[0])); got != "plain text\r\nline two" {
		t.Errorf("text body %q", got)
	}
	if n := m.Lines(alt.Parts[0]); n != 1 {
		t.Errorf("text lines %d", n)
	}
	html, _ := io.ReadAll(m.DecodedText(alt.Parts[1]))
	if string(html) != "<p>café</p>" {
		t.Errorf("html decoded %q", html)
	}
	msg := root.Parts[1]
	if msg.Message == nil || msg.Message.Header.Get("Subject") != "inside" || string(m.Body(msg.Message)) != "inner body" {
		t.Fatalf("message part %+v", msg)
	}
	bin := root.Parts[2]
	if bin.Params["name"] != "f.bin" {
		t.Errorf("params %v", bin.Params)
	}
	if b, _ := io.ReadAll(m.Decoded(bin)); string(b) != "hello" {
		t.Errorf("base64 decoded %q", b)
	}
	var paths []string
	m.Walk(func(path []int, p *Part) bool {
		var nums []string
		for _, n := range path {
			nums = append(nums, strconv.Itoa(n))
		}
		paths = append(paths, strings.Join(nums, ".")+"="+p.MediaType())
		return true
	})
	want := "=multipart/mixed 1=multipart/alternative 1.1=text/plain 1.2=text/html 2=message/rfc822 2=text/plain 3=application/octet-stream"
	if strings.Join(paths, " ") != want {
		t.Errorf("walk\n got %s\nwant %s", strings.Join(paths, " "), want)
	}
	var leaves []string
	m.Leaves(func(p *Part) bool { leaves = append(leaves, p.MediaType()); return true })
	if strings.Join(leaves, " ") != "text/plain text/html message/rfc822 application/octet-stream" {
		t.Errorf("leaves %v", leaves)
	}
}

func TestDefaultsAndOddInput(t *testing.T) {
	for _, c := range []struct{ name, msg, typ string }{
		{"no content type", "Subject: x\r\n\r\nbody\r\n", "text/plain"},
		{"unreadable type", "Content-Type: garbage\r\n\r\nbody\r\n", "text/plain"},
		{"multipart without boundary", "Content-Type: multipart/mixed\r\n\r\nbody\r\n", "multipart/mixed"},
		{"multipart without delimiters", "Content-Type: multipart/mixed; boundary=zz\r\n\r\nbody\r\n", "multipart/mixed"},
		{"no header at all", "just a line\r\n", "text/plain"},
		{"empty", "", "text/plain"},
	} {
		m := Parse([]byte(c.msg), Limits{})
		if m.Root.MediaType() != c.typ || m.Root.IsMultipart() {
			t.Errorf("%s: %s multipart=%v", c.name, m.Root.MediaType(), m.Root.IsMultipart())
		}
	}
	// In a digest, a part without Content-Type is a message.
	d := Parse([]byte("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nx\r\n--d--\r\n"), Limits{})
	if p := d.Root.Parts[0]; p.MediaType() != "message/rfc822" || p.Message == nil || p.Message.Header.Get("Subject") != "one" {
		t.Errorf("digest part %s", p.MediaType())
	}
	// A boundary that is the prefix of a longer one does not split it.
	b := Parse([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\none\r\n--ab\r\nstill one\r\n--a--\r\n"), Limits{})
	if len(b.Root.Parts) != 1 || string(b.Body(b.Root.Parts[0])) != "one\r\n--ab\r\nstill one" {
		t.Errorf("prefix boundary: %d parts", len(b.Root.Parts))
	}
	// No close delimiter: the last part runs to the end.
	u := Parse([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\none\r\n--a\r\n\r\ntwo\r\n"), Limits{})
	if len(u.Root.Parts) != 2 || string(u.Body(u.Root.Parts[1])) != "two\r\n" {
		t.Errorf("unterminated: %d parts", len(u.Root.Parts))
	}
}

// TestBombsBounded parses the hostile messages of SECURITY.md: each is
// cut at a limit, and the parse allocates a small multiple of the
// message's size (go-imap's extractor needed the square of it).
func TestBombsBounded(t *testing.T) {
	lim := Limits{}.orDefault()
	for _, c := range []struct {
		name  string
		msg   []byte
		cut   bool
		check func(t *testing.T, m *Message)
	}{
		{"rfc822 nested 8000 deep", mailtest.RFC822Bomb("u@x.test", 8000), true, func(t *testing.T, m *Message) {
			if m.Parts > lim.MaxDepth+1 {
				t.Errorf("%d parts", m.Parts)
			}
		}},
		{"multipart nested 10000 deep", mailtest.DeepMultipart("u@x.test", 10000), true, nil},
		{"100k parts", mailtest.ManyParts("u@x.test", 100000), true, func(t *testing.T, m *Message) {
			if m.Parts != lim.MaxParts || len(m.Root.Parts) != lim.MaxParts-1 {
				t.Errorf("%d parts, %d children", m.Parts, len(m.Root.Parts))
			}
		}},
		{"10 MB header", mailtest.HugeHeader("u@x.test", 10<<20), true, func(t *testing.T, m *Message) {
			if string(m.Body(m.Root)) != "body after a huge header\r\n" {
				t.Errorf("body not found after the header")
			}
		}},
		{"100k To fields", mailtest.ManyTo("u@x.test", 100000), true, func(t *testing.T, m *Message) {
			if len(m.Root.Header.Fields) != lim.MaxHeaderFields || m.Root.Header.Get("To") != "u@x.test" {
				t.Errorf("%d fields, To %q", len(m.Root.Header.Fields), m.Root.Header.Get("To"))
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			m := Parse(c.msg, Limits{})
			m.Walk(func(_ []int, p *Part) bool { m.Lines(p); return true })
			runtime.ReadMemStats(&after)
			if m.Truncated != c.cut {
				t.Errorf("truncated %v (%s)", m.Truncated, m.Reason)
			}
			depth := 0
			m.Walk(func(_ []int, p *Part) bool { depth = max(depth, p.Depth); return true })
			if depth > lim.MaxDepth {
				t.Errorf("depth %d over %d", depth, lim.MaxDepth)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(4*len(c.msg))+4<<20 {
				t.Errorf("parse of %d bytes allocated %d", len(c.msg), alloc)
			}
			if c.check != nil {
				c.check(t, m)
			}
		})
	}
}

func TestReadHeader(t *testing.T) {
	raw := "X-Copyright(C): odd but legal\r\n>Received: also legal\r\nnot a field\r\n" +
		"From: Somebody\r\n <some@x.test>\r\n\tcontinued\r\nBad Name: x\r\n: empty\r\n\r\nbody"
	h := ReadHeader([]byte(raw), Limits{})
	var names []string
	for _, f := range h.Fields {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "X-Copyright(C),>Received,From" {
		t.Errorf("fields %q", names)
	}
	if v := h.Get("from"); v != "Somebody <some@x.test> continued" {
		t.Errorf("From %q", v)
	}
	if raw[h.Len:] != "body" {
		t.Errorf("body starts at %q", raw[h.Len:])
	}
	if i := NULInHeader([]byte("Subject: a\x00b\r\n\r\nbody")); i != 10 {
		t.Errorf("NUL at %d", i)
	}
	if i := NULInHeader([]byte("Subject: ab\r\n\r\nbo\x00dy")); i != -1 {
		t.Errorf("NUL in the body counted: %d", i)
	}
	// Bounded: fields past the limits are not read.
	big := strings.Repeat("X-A: 1\r\n", 50) + "\r\n"
	if h := ReadHeader([]byte(big), Limits{MaxHeaderFields: 10}); len(h.Fields) != 10 || !h.Truncated || h.Len != len(big) {
		t.Errorf("field limit: %d fields, truncated %v, len %d", len(h.Fields), h.Truncated, h.Len)
	}
	if h := ReadHeader([]byte(big), Limits{MaxHeaderBytes: 80}); len(h.Fields) != 10 || !h.Truncated {
		t.Errorf("byte limit: %d fields", len(h.Fields))
	}
}

func TestDecodeBounds(t *testing.T) {
	if got := DecodeText("=?utf-8?q?caf=C3=A9?= ok", Limits{}); got != "café ok" {
		t.Errorf("decoded %q", got)
	}
	many := strings.Repeat("=?utf-8?q?a?= ", 20)
	got := DecodeText(many, Limits{MaxEncodedWords: 5})
	if !strings.HasPrefix(got, "aaaaa") || strings.Count(got, "=?") != 15 {
		t.Errorf("bounded decode %q", got)
	}
	h := ReadHeader([]byte("To: "+strings.Repeat("x@y.test, ", 20000)+"z@y.test\r\n\r\n"), Limits{})
	mh := h.Mail(Limits{MaxValueBytes: 1000})
	list, err := mh.AddressList("To")
	if err != nil || len(list) == 0 || len(list) > 100 {
		t.Errorf("capped address list: %d addresses, %v", len(list), err)
	}
}

func benchParse(b *testing.B, msg []byte) {
	b.ResetTimer()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m := Parse(msg, Limits{})
		m.Walk(func(_ []int, p *Part) bool { m.Lines(p); return true })
	}
}

func BenchmarkParseRFC822Bomb(b *testing.B) {
	benchParse(b, mailtest.RFC822Bomb("u@x.test", 8000))
}
func BenchmarkParseDeepMultipart(b *testing.B) {
	benchParse(b, mailtest.DeepMultipart("u@x.test", 10000))
}
func BenchmarkParse100kParts(b *testing.B) { benchParse(b, mailtest.ManyParts("u@x.test", 100000)) }
func BenchmarkParse10MBHeader(b *testing.B) {
	benchParse(b, mailtest.HugeHeader("u@x.test", 10<<20))
}
func BenchmarkParse100kTo(b *testing.B) { benchParse(b, mailtest.ManyTo("u@x.test", 100000)) }
func BenchmarkParseNormal(b *testing.B) { benchParse(b, []byte(nested)) }
