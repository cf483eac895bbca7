package imap

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// FuzzParseMeta: the parse IMAP caches for any stored bytes is one go-imap
// can write (extension data everywhere, no empty multipart, a body in
// every message/rfc822), and it survives the cache's encoding.
func FuzzParseMeta(f *testing.F) {
	for _, m := range wellFormed {
		f.Add([]byte(m))
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=zz\r\n\r\nno parts\r\n"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		md := parseMeta(raw)
		checkWritable(t, md.Structure)
		dec, err := decodeMeta(encodeMeta(md), true)
		if err != nil {
			t.Fatalf("cached parse does not decode: %v", err)
		}
		checkWritable(t, dec.Structure)
		if dec.HeaderLen != md.HeaderLen || md.HeaderLen > len(raw) {
			t.Fatalf("header length %d → %d (of %d)", md.HeaderLen, dec.HeaderLen, len(raw))
		}
	})
}

func checkWritable(t *testing.T, bs goimap.BodyStructure) {
	t.Helper()
	switch x := bs.(type) {
	case *goimap.BodyStructureSinglePart:
		if x.Extended == nil {
			t.Fatal("single part without extension data")
		}
		if x.MessageRFC822 != nil {
			if x.MessageRFC822.BodyStructure == nil {
				t.Fatal("message/rfc822 without a body")
			}
			checkWritable(t, x.MessageRFC822.BodyStructure)
		}
	case *goimap.BodyStructureMultiPart:
		if x.Extended == nil || len(x.Children) == 0 {
			t.Fatalf("multipart with %d children, extension %v", len(x.Children), x.Extended)
		}
		for _, c := range x.Children {
			checkWritable(t, c)
		}
	default:
		t.Fatalf("structure of type %T", bs)
	}
}

// FuzzPreauthRead feeds bytes to the pre-login command reader: it never
// panics, never sizes an allocation by a literal over the limit, and
// every command it returns has a valid tag.
func FuzzPreauthRead(f *testing.F) {
	for _, s := range []string{
		"a CAPABILITY\r\n", "a LOGIN {5}\r\nalice {6+}\r\nsecret\r\n", "a LOGIN {400000000}\r\n",
		"a LOGIN \"al\\\"ice\" \"pw\"\r\n", "* NOOP\r\n", "a AUTHENTICATE PLAIN\r\nAGFsaWNlAHB3\r\n",
		"a ID (\"name\" \"x\")\r\n", "\r\n", "a {1}\r\n", strings.Repeat("x", 9000) + "\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		go func() { // drain the server's replies ("+ Ready for literal data")
			buf := make([]byte, 512)
			for {
				if _, err := client.Read(buf); err != nil {
					return
				}
			}
		}()
		server.SetDeadline(time.Now().Add(5 * time.Second))
		p := &preauth{conn: server, br: bufio.NewReader(strings.NewReader(string(in)))}
		for i := 0; i < 100; i++ {
			tag, name, args, err := p.read()
			if err != nil {
				if le, ok := err.(literalError); ok && le.size <= maxPreauthLiteral {
					t.Fatalf("literal of %d refused", le.size)
				}
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return
				}
				continue
			}
			if !isTag(tag) || name != strings.ToUpper(name) {
				t.Fatalf("command %q %q", tag, name)
			}
			for _, a := range args {
				if len(a) > maxPreauthLine+maxPreauthLiteral*len(args) {
					t.Fatalf("argument of %d bytes", len(a))
				}
			}
		}
	})
}
