package mx

import "testing"

// TestNULInHeaderRefused: the MX refuses a NUL byte in the header with
// 550 5.6.0 and stores nothing.
func TestNULInHeaderRefused(t *testing.T) {
	e := newMX(t, nil)
	msg := e.signed(t, "news@sender.test", "alice@a.test", "nul", "X-Evil: a\x00b\r\n")
	err := e.send(t, "news@sender.test", []string{"alice@a.test"}, msg)
	if codeOf(err) != 550 || err == nil {
		t.Fatalf("MX answered %v, want 550", err)
	}
	if got := e.mailbox(t, "alice@a.test", "INBOX"); len(got) != 0 {
		t.Fatalf("stored %d messages", len(got))
	}
}
