package mailparse

import (
	"io"
	"testing"
)

// FuzzParse: any bytes parse without a panic into a tree whose offsets
// nest inside the message, within the limits; the decoders read every
// part and header without a panic. Small limits are tried too, so the
// truncating paths are fuzzed as well.
func FuzzParse(f *testing.F) {
	f.Add([]byte(nested))
	f.Add([]byte("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nx\r\n--d--\r\n"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nx"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a--\r\n--a--"))
	f.Add([]byte("Subject: =?utf-8?b?w6k=?= =?iso-8859-1?q?=E9?=\nTo: a@b, \"c\" <d@e>\n\nbody"))
	f.Add([]byte("X: a\x00b\r\n continued\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, lim := range []Limits{{}, {MaxDepth: 2, MaxParts: 4, MaxHeaderFields: 3, MaxHeaderBytes: 64, MaxValueBytes: 16, MaxEncodedWords: 1, WorkPerByte: 1}} {
			m := Parse(raw, lim)
			l := m.Limits()
			parts := 0
			m.Walk(func(path []int, p *Part) bool {
				parts++
				if p.Start < 0 || p.Start > p.BodyStart || p.BodyStart > p.End || p.End > len(raw) {
					t.Fatalf("part offsets %d %d %d of %d", p.Start, p.BodyStart, p.End, len(raw))
				}
				if p.Depth > l.MaxDepth || len(p.Header.Fields) > l.MaxHeaderFields {
					t.Fatalf("depth %d, %d fields over the limits", p.Depth, len(p.Header.Fields))
				}
				for _, c := range p.Parts {
					if c.Start < p.BodyStart || c.End > p.End {
						t.Fatalf("child [%d,%d) outside parent body [%d,%d)", c.Start, c.End, p.BodyStart, p.End)
					}
				}
				if p.Message != nil && (p.Message.Start != p.BodyStart || p.Message.End != p.End) {
					t.Fatalf("message part not its body")
				}
				m.Lines(p)
				io.Copy(io.Discard, m.DecodedText(p))
				mh := p.Header.Mail(l, EnvelopeFields...)
				mh.AddressList("From")
				mh.AddressList("To")
				mh.Date()
				mh.Subject()
				mh.MessageID()
				mh.MsgIDList("In-Reply-To")
				return true
			})
			if parts != m.Parts || parts > l.MaxParts {
				t.Fatalf("walked %d parts, counted %d, limit %d", parts, m.Parts, l.MaxParts)
			}
			if i := NULInHeader(raw); i >= m.Root.BodyStart {
				t.Fatalf("NUL at %d is past the header (%d)", i, m.Root.BodyStart)
			}
		}
	})
}
