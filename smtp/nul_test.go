package smtp

import "testing"

// TestNULInHeaderRefused: a NUL byte in a header field (it hides the rest
// of the field from programs written in C) is refused with 550 5.6.0 and
// nothing is stored; a NUL in the body is not a header matter.
func TestNULInHeaderRefused(t *testing.T) {
	e := newEnv(t, nil)
	bad := "From: john@doe.com\r\nTo: jane@doe.com\r\nSubject: a\x00b\r\n\r\nHello.\r\n"
	err := e.send(t, "john@doe.com", userPW, "john@doe.com", []string{"jane@doe.com"}, bad)
	wantCode(t, err, "550 5.6.0", "NUL")
	if got := e.inbox(t, "jane@doe.com"); len(got) != 0 {
		t.Fatalf("stored %d messages", len(got))
	}
}
