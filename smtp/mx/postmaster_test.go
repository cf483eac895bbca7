package mx

import (
	"strings"
	"testing"
)

// postmaster@ (RFC 5321 §4.5.1, any case) and abuse@ (RFC 2142) are taken
// for every hosted domain, before the admin chose who reads them: held,
// then moved into the chosen user's INBOX; later mail goes straight there.
func TestPostmasterAndAbuseAccepted(t *testing.T) {
	e := newMX(t, nil)
	r := dialRaw(t, e.addr)
	r.expect("EHLO sender.test", 250)
	r.expect("MAIL FROM:<someone@sender.test>", 250)
	r.expect("RCPT TO:<PostMaster@a.test>", 250)
	r.expect("RCPT TO:<abuse@a.test>", 250)
	r.expect("RCPT TO:<nobody@a.test>", 550) // other unknown names still refused
	r.expect("QUIT", 221)

	if err := e.send(t, "someone@sender.test", []string{"postmaster@a.test"}, e.signed(t, "someone@sender.test", "postmaster@a.test", "held report", "")); err != nil {
		t.Fatalf("mail to postmaster@ refused: %v", err)
	}
	if n := e.st.HeldPostmasterMail("a.test"); n != 1 {
		t.Fatalf("held = %d, want 1", n)
	}
	if got := e.mailbox(t, "bob@a.test", "INBOX"); len(got) != 0 {
		t.Fatalf("a user got postmaster mail nobody routed to them: %d", len(got))
	}
	if err := e.st.SetPostmaster("a.test", "bob@a.test"); err != nil {
		t.Fatal(err)
	}
	if got := e.mailbox(t, "bob@a.test", "INBOX"); len(got) != 1 || !strings.Contains(got[0], "Subject: held report") {
		t.Fatalf("held mail not moved to the chosen postmaster: %d", len(got))
	}
	if n := e.st.HeldPostmasterMail("a.test"); n != 0 {
		t.Fatalf("still held: %d", n)
	}
	if err := e.send(t, "someone@sender.test", []string{"abuse@a.test"}, e.signed(t, "someone@sender.test", "abuse@a.test", "spam complaint", "")); err != nil {
		t.Fatalf("mail to abuse@ refused: %v", err)
	}
	if got := e.mailbox(t, "bob@a.test", "INBOX"); len(got) != 2 || !strings.Contains(got[1], "Subject: spam complaint") {
		t.Fatalf("abuse@ mail not at the postmaster: %d", len(got))
	}
}
