package queue

import (
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/store"
)

// A domain login may send as any address of its domain, most of which
// have no mailbox. Their bounces are not dropped: they go to the address's
// alias or catch-all if there is one, else to the domain's postmaster
// (held until one is chosen).
func TestDSNForSenderWithoutMailboxGoesToPostmaster(t *testing.T) {
	e := newEnv(t)
	if _, err := e.st.AddUser("bob@a.test", "pw-bob-12345"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.AddAlias("sales@a.test", []string{"bob@a.test"}, ""); err != nil {
		t.Fatal(err)
	}
	rcv := mailtest.StartReceiver(t, nil)
	rcv.OnRcpt = func(to string) error {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	e.runner(t, rcv.Port, nil)
	bounce := func(from string) {
		t.Helper()
		if _, err := e.st.Accept(&store.Incoming{From: from, Login: "a.test", Remote: []string{"bad@remote.test"}, Body: msg(from, "bad@remote.test", "from "+from)}); err != nil {
			t.Fatal(err)
		}
		waitQueueEmpty(t, e.st, 10*time.Second)
	}

	// No postmaster chosen: the DSN is held for postmaster@.
	bounce("newsletter@a.test")
	if n := e.st.HeldPostmasterMail("a.test"); n != 1 {
		t.Fatalf("held DSNs = %d, want 1", n)
	}
	// With a postmaster: the held DSN and new ones reach alice.
	if err := e.st.SetPostmaster("a.test", "alice@a.test"); err != nil {
		t.Fatal(err)
	}
	bounce("billing@a.test")
	got := inbox(t, e.st, "alice@a.test")
	if len(got) != 2 || !strings.Contains(string(got[0]), "Subject: from newsletter@a.test") || !strings.Contains(string(got[1]), "Subject: from billing@a.test") {
		t.Fatalf("postmaster's INBOX has %d DSNs, want the held one and the new one", len(got))
	}
	// An alias sender gets its own bounce.
	bounce("sales@a.test")
	if got := inbox(t, e.st, "bob@a.test"); len(got) != 1 || !strings.Contains(string(got[0]), "multipart/report") {
		t.Fatalf("alias target got %d DSNs, want 1", len(got))
	}
	if got := inbox(t, e.st, "alice@a.test"); len(got) != 2 {
		t.Fatalf("postmaster got the alias's bounce too: %d", len(got))
	}
}
