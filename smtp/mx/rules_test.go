package mx

import (
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/store"
)

func TestAliasCatchAllAndSRSForward(t *testing.T) {
	e := newMX(t, nil)
	if _, err := e.st.AddAlias("sales@a.test", []string{"alice@a.test", "partner@remote.test"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetCatchAll("a.test", "bob@a.test"); err != nil {
		t.Fatal(err)
	}
	m := e.signed(t, "news@sender.test", "sales@a.test", "offer", "")
	if err := e.send(t, "news@sender.test", []string{"sales@a.test", "whoever@a.test"}, m); err != nil {
		t.Fatal(err)
	}
	if n := len(e.mailbox(t, "alice@a.test", "INBOX")); n != 1 {
		t.Errorf("alice (alias) got %d", n)
	}
	if n := len(e.mailbox(t, "bob@a.test", "INBOX")); n != 1 {
		t.Errorf("bob (catch-all) got %d", n)
	}
	q, _ := e.st.ListQueue()
	if len(q) != 1 {
		t.Fatalf("queued %d forwarded copies, want 1", len(q))
	}
	f := q[0]
	if !strings.HasPrefix(f.From, "srs0=") || !strings.HasSuffix(f.From, "@a.test") || f.Rcpts[0].Address != "partner@remote.test" {
		t.Errorf("forwarded entry from %q to %+v, want an SRS sender at a.test", f.From, f.Rcpts)
	}
	if f.Service != "mx" || f.CID == "" {
		t.Errorf("forwarded entry names session service=%q cid=%q, want the MX session's", f.Service, f.CID)
	}
	body, _ := e.st.Body(f.BodyID)
	if !strings.HasPrefix(string(body), "Delivered-To: sales@a.test\r\n") {
		t.Errorf("forwarded copy lacks Delivered-To:\n%s", body)
	}
	// A bounce to the SRS address goes back to the original sender.
	r, err := e.st.Route(f.From)
	if err != nil || len(r.Remote) != 1 || r.Remote[0] != "news@sender.test" {
		t.Errorf("SRS reverse route = %+v, %v", r, err)
	}
}

func TestForwardLoopAndAliasLoop(t *testing.T) {
	e := newMX(t, nil)
	e.st.SetForward("alice@a.test", "alice@remote.test", false)
	m := e.signed(t, "news@sender.test", "alice@a.test", "loop", "Delivered-To: alice@a.test\r\n")
	if err := e.send(t, "news@sender.test", []string{"alice@a.test"}, m); codeOf(err) != 554 {
		t.Errorf("message coming back to its forwarder → %v, want 554", err)
	}
	if q, _ := e.st.ListQueue(); len(q) != 0 {
		t.Errorf("looping message forwarded again")
	}
	e.st.AddAlias("x@a.test", []string{"y@a.test"}, "")
	e.st.AddAlias("y@a.test", []string{"x@a.test"}, "")
	r := dialRaw(t, e.addr)
	r.expect("EHLO client.test", 250)
	r.expect("MAIL FROM:<news@sender.test>", 250)
	if msg := r.expect("RCPT TO:<x@a.test>", 550); !strings.Contains(msg, "5.4.6") {
		t.Errorf("alias loop reply %q", msg)
	}
}

func TestVacationRFC3834(t *testing.T) {
	e := newMX(t, nil)
	if err := e.st.SetVacation("alice@a.test", "I am away until Monday."); err != nil {
		t.Fatal(err)
	}
	replies := func() []store.QueueEntry {
		q, _ := e.st.ListQueue()
		return q
	}
	send := func(from, extra string) {
		t.Helper()
		m := e.signed(t, "news@sender.test", "alice@a.test", "question", extra)
		if err := e.send(t, from, []string{"alice@a.test"}, m); err != nil {
			t.Fatal(err)
		}
	}
	send("news@sender.test", "")
	q := replies()
	if len(q) != 1 || q[0].From != "" || q[0].Rcpts[0].Address != "news@sender.test" {
		t.Fatalf("vacation reply = %+v", q)
	}
	body, _ := e.st.Body(q[0].BodyID)
	for _, want := range []string{"Auto-Submitted: auto-replied", "I am away until Monday.", "In-Reply-To: <", "From: <alice@a.test>"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("reply lacks %q:\n%s", want, body)
		}
	}
	send("news@sender.test", "")                                    // same sender again: no second reply
	send("list@sender.test", "Precedence: bulk\r\n")                // bulk
	send("other@sender.test", "List-Id: <l.sender.test>\r\n")       // a list
	send("robot@sender.test", "Auto-Submitted: auto-generated\r\n") // automatic
	send("", "")                                                    // the null sender
	// Not addressed to alice in To:/Cc: (a Bcc, or a list without headers).
	bcc := []byte("From: <x@sender.test>\r\nTo: <someone@else.test>\r\nSubject: hidden\r\n\r\nx\r\n")
	if err := e.send(t, "x@sender.test", []string{"alice@a.test"}, bcc); err != nil {
		t.Fatal(err)
	}
	if n := len(replies()); n != 1 {
		t.Errorf("%d vacation replies, want exactly 1", n)
	}
	if n := len(e.mailbox(t, "alice@a.test", "INBOX")); n != 7 {
		t.Errorf("alice got %d messages, want 7", n)
	}
}
