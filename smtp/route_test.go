package smtp

import (
	"os"
	"strings"
	"testing"
)

// TestSourceRoutes: a source route in MAIL FROM or RCPT TO
// (<@r.test:john@doe.com>) is dropped, as RFC 5321 §4.1.1.3 and Appendix C
// ask of a server, and the send rule judges the mailbox that remains:
// nothing is ever relayed through the route's hosts. (go-smtp drops it in
// its parser, before the session sees the command.) In a From: header a
// route is refused (TestSendRule, "unparseable From"). The README says so.
func TestSourceRoutes(t *testing.T) {
	e := newEnv(t, nil)
	r := e.authed(t, "john@doe.com", userPW)
	r.cmd("MAIL FROM:<@r.test:jane@doe.com>", "553 5.7.1")
	r.cmd("MAIL FROM:<@r.test,@s.test:john@doe.com>", "250")
	r.cmd("RCPT TO:<@r.test:someone@remote.example>", "250")
	r.cmd("RCPT TO:<@remote.example:jane@doe.com>", "250")
	r.cmd("DATA", "354")
	r.send("From: john@doe.com\r\nSubject: routes\r\n\r\nhi\r\n.\r\n")
	r.expect("250")
	q, err := e.st.ListQueue()
	if err != nil || len(q) != 1 || q[0].From != "john@doe.com" || len(q[0].Rcpts) != 1 || q[0].Rcpts[0].Address != "someone@remote.example" {
		t.Fatalf("queue: %+v %v", q, err)
	}
	if in := e.inbox(t, "jane@doe.com"); len(in) != 1 {
		t.Fatalf("jane's INBOX: %d", len(in))
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Skipf("README: %v", err)
	}
	text := strings.Join(strings.Fields(string(readme)), " ")
	if !strings.Contains(text, "A source route in `MAIL FROM` or `RCPT TO` (`<@r:john@doe.com>`) is dropped") {
		t.Error("the README does not say what the server does with source routes")
	}
}
