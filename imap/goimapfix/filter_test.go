package goimapfix

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

// FuzzCmdFilter feeds arbitrary client bytes through the filter in front
// of go-imap: it must not panic or loop, and must pass on or answer every
// line, in order.
func FuzzCmdFilter(f *testing.F) {
	for _, s := range []string{
		"a SELECT \"INBOX\x00x\"\r\nb NOOP\r\n",
		"a APPEND INBOX {5}\r\nhello\r\nb ID NIL\r\n",
		"a RENAME \"a\x00\" {3+}\r\nabc {2+}\r\nxy\r\nb LIST () \"\" \"caf\xc3\xa9\"\r\n",
		"a IDLE\r\nDONE\r\nb ENABLE UTF8=ACCEPT\r\nc CREATE \"&Jjo\"\r\n",
		"a LIST (SUBSCRIBED \"x\") \"\" (\"a\" \"b\xff\")\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var answers strings.Builder
		fl := NewFilter(bufio.NewReaderSize(bytes.NewReader(in), 64), func(s string) error {
			answers.WriteString(s)
			return nil
		})
		fl.SawContinuation() // as if go-imap asked for every literal
		out, err := io.ReadAll(fl)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > len(in) {
			t.Fatalf("filter made up %d bytes", len(out)-len(in))
		}
	})
}
