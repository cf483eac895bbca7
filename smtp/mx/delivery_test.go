package mx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/smtp/smtpd"
	"github.com/authsmtp/authsmtp/store"
)

// TestMXForwardFailureStoresNothing: the local copies, the forwarded copy
// and the duplicate-suppression marker commit in one transaction. Before,
// the MX stored the local copies, then the forwarded one: when the second
// step failed the client got 451 with the local copies already stored,
// and its retry stored them again. Here the second copy cannot fit in the
// database file (capped), so the whole message must be refused with
// nothing stored.
func TestMXForwardFailureStoresNothing(t *testing.T) {
	dir := t.TempDir()
	st := mxStore(t, dir, store.Options{})
	if err := st.SetForward("bob@a.test", "bob@elsewhere.example", true); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// bbolt grows its file in powers of two up to 16 MiB: a 3 MiB cap
	// holds one copy of a 1.2 MiB message (2 MiB file), not two (4 MiB).
	if fi, err := os.Stat(filepath.Join(dir, store.DBFile)); err != nil || fi.Size() > 512<<10 {
		t.Fatalf("database file %v %v: too big for the cap below", fi.Size(), err)
	}
	st = mxStore(t, dir, store.Options{MaxFileSize: 3 << 20})
	e := newMXOn(t, st, nil)
	body := strings.Repeat(strings.Repeat("y", 78)+"\r\n", (1200<<10)/80)
	msg := e.signed(t, "news@sender.test", "alice@a.test", "big", "")
	msg = append(msg, body...)
	for try := 0; try < 2; try++ {
		err := e.send(t, "news@sender.test", []string{"alice@a.test", "bob@a.test"}, msg)
		if c := codeOf(err); c < 400 || c >= 500 {
			t.Fatalf("try %d: want a 4xx (the file is full), got %v", try, err)
		}
		for _, u := range []string{"alice@a.test", "bob@a.test"} {
			if got := e.mailbox(t, u, "INBOX"); len(got) != 0 {
				t.Fatalf("try %d: %s has %d copies of a refused message", try, u, len(got))
			}
		}
		if qs, _ := st.ListQueue(); len(qs) != 0 {
			t.Fatalf("try %d: a refused message was queued: %+v", try, qs)
		}
	}
}

// TestMXDuplicateAfterRestart: the duplicate-suppression marker is in
// the store, so a sender retrying after our 250 (its connection broke)
// stores nothing twice, even across a restart of the MX.
func TestMXDuplicateAfterRestart(t *testing.T) {
	st := mxStore(t, t.TempDir(), store.Options{})
	e := newMXOn(t, st, nil)
	msg := e.signed(t, "news@sender.test", "alice@a.test", "once", "")
	if err := e.send(t, "news@sender.test", []string{"alice@a.test"}, msg); err != nil {
		t.Fatal(err)
	}
	e.srv.Close()
	e2 := newMXOn(t, st, nil) // a new process's MX over the same data
	e2.key = e.key
	if err := e2.send(t, "news@sender.test", []string{"alice@a.test"}, msg); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := e2.mailbox(t, "alice@a.test", "INBOX"); len(got) != 1 {
		t.Fatalf("alice has %d copies, want 1", len(got))
	}
	// Another recipient set is another message.
	if err := e2.send(t, "news@sender.test", []string{"alice@a.test", "bob@a.test"}, msg); err != nil {
		t.Fatal(err)
	}
	if got := e2.mailbox(t, "alice@a.test", "INBOX"); len(got) != 2 {
		t.Fatalf("alice has %d copies, want 2", len(got))
	}
}

// TestMXInFlightBudget: above the budget of message bytes in flight the
// MX answers 452 4.3.1 (try later) — at MAIL for an announced SIZE, after
// the data otherwise — and the session stays usable.
func TestMXInFlightBudget(t *testing.T) {
	budget := smtpd.NewBudget(64 << 10)
	e := newMX(t, func(c *Config) { c.InFlight = budget })
	r := dialRaw(t, e.addr)
	r.expect("EHLO sender.test", 250)
	if code, msg := r.cmd("MAIL FROM:<news@sender.test> SIZE=100000"); code != 452 || !strings.HasPrefix(msg, "4.3.1") {
		t.Fatalf("MAIL over the budget: %d %s", code, msg)
	}
	r.expect("MAIL FROM:<news@sender.test>", 250)
	r.expect("RCPT TO:<alice@a.test>", 250)
	r.expect("DATA", 354)
	r.tp.PrintfLine("From: <news@sender.test>\r\nSubject: big\r\n\r\n%s\r\n.", strings.Repeat(strings.Repeat("z", 98)+"\r\n", 1000))
	if code, msg := r.read(); code != 452 || !strings.HasPrefix(msg, "4.3.1") {
		t.Fatalf("DATA over the budget: %d %s", code, msg)
	}
	if budget.Used() != 0 {
		t.Fatalf("budget still holds %d bytes", budget.Used())
	}
	// In step: a small message goes through on the same connection.
	r.expect("MAIL FROM:<news@sender.test>", 250)
	r.expect("RCPT TO:<alice@a.test>", 250)
	r.expect("DATA", 354)
	r.tp.PrintfLine("From: <news@sender.test>\r\nSubject: small\r\n\r\nhi\r\n.")
	if code, msg := r.read(); code != 250 {
		t.Fatalf("small message: %d %s", code, msg)
	}
	if got := e.mailbox(t, "alice@a.test", "INBOX"); len(got) != 1 {
		t.Fatalf("alice has %d messages, want 1", len(got))
	}
}
