package goimapfix

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzPreauthRead feeds bytes to the pre-login command reader (ReadCommand): it never
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
		br := bufio.NewReader(strings.NewReader(string(in)))
		for i := 0; i < 100; i++ {
			tag, name, args, err := ReadCommand(br, func() {})
			if err != nil {
				if le, ok := err.(LiteralError); ok && le.Size <= MaxPreauthLiteral {
					t.Fatalf("literal of %d refused", le.Size)
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
				if len(a) > MaxPreauthLine+MaxPreauthLiteral*len(args) {
					t.Fatalf("argument of %d bytes", len(a))
				}
			}
		}
	})
}
