package junk

import (
	"testing"
	"unicode/utf8"
)

func FuzzTokenize(f *testing.F) {
	f.Add([]byte("Subject: hi\r\n\r\nhello world\r\n"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<a href=\"http://x.example/\">x</a>\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nx"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		toks := Tokenize(msg)
		if len(toks) > maxTokens {
			t.Fatalf("%d tokens", len(toks))
		}
		seen := map[string]bool{}
		for _, tok := range toks {
			if len(tok) > maxTokenSize || seen[tok] {
				t.Fatalf("token %q too long or repeated", tok)
			}
			seen[tok] = true
			_ = utf8.ValidString(tok)
		}
		Key(msg)
	})
}
