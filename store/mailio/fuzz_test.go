package mailio

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzMbox: any bytes read as an mbox split into messages without a
// panic, none over the size limit, and each message the import accepts
// is stored with CRLF line ends only and no NUL; the flag readers of
// mbox headers and Maildir names take any input.
func FuzzMbox(f *testing.F) {
	f.Add([]byte("From a@b Mon Jan  2 15:04:05 2006\nSubject: one\nStatus: RO\n\nbody\n>From quoted\n\nFrom c@d Tue Jan  3 10:00:00 2006\nX-Mozilla-Status: 0005\n\ntwo\n"))
	f.Add([]byte("preamble text\n\nFrom x Mon Jan 2 15:04 2006\r\nX-Status: AF\r\n\r\n\r\n"))
	f.Add([]byte("From \nFrom \n\n"))
	f.Add([]byte("1234567890.M1P2.host:2,FRS"))
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 4096
		total := 0
		err := scanMbox(bytes.NewReader(in), max, func(n int, from string, data []byte, tooBig bool) error {
			if len(data) > max || (tooBig && data != nil) {
				t.Fatalf("message %d: %d bytes, tooBig %v", n, len(data), tooBig)
			}
			total += len(data)
			flags, _ := mboxFlags(data)
			body, _, err := check(rawMessage{data: data, flags: flags, date: fromLineDate(from)}, max)
			if err != nil {
				return nil
			}
			if !bytes.HasSuffix(body, []byte("\r\n")) || bytes.Count(body, []byte("\n")) != bytes.Count(body, []byte("\r\n")) {
				t.Fatalf("stored message has bare LF or no final CRLF: %q", body)
			}
			if bytes.IndexByte(body, 0) >= 0 {
				t.Fatal("stored message has a NUL")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		if total > len(in) {
			t.Fatalf("%d bytes of messages from %d bytes of mbox", total, len(in))
		}
		for _, f := range maildirFlags(string(in)) {
			if !strings.HasPrefix(f, `\`) && f != "$Forwarded" {
				t.Fatalf("flag %q", f)
			}
		}
		cleanFolder(strings.Split(string(in), "/"))
	})
}
