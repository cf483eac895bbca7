package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/store"
)

// setupDoe creates doe.com (SMTP on) and john@doe.com through the CLI.
func setupDoe(t *testing.T, dir string) {
	t.Helper()
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"domain", "add", "doe.com"}},
		{"Dom-pass-x7Q!z\n", []string{"domain", "password", "doe.com"}},
		{"", []string{"domain", "enable", "doe.com", "smtp"}},
		{"Usr-pass-k9W!q\n", []string{"user", "add", "john@doe.com"}},
	} {
		if code, _, errs := cli(t, dir, c.stdin, c.args...); code != 0 {
			t.Fatalf("%v: %s", c.args, errs)
		}
	}
}

// TestPersistenceSIGKILL: messages acknowledged with 250 survive a kill -9
// of the server right after the last reply, each exactly once, and the
// database passes bbolt's consistency check.
func TestPersistenceSIGKILL(t *testing.T) {
	bin := authsmtpBinary(t)
	dir := t.TempDir()
	setupDoe(t, dir)
	// --capture: queued mail stays put whatever the delivery workers do.
	p := startServe(t, bin, dir, "--capture")
	const n = 10
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("From: john@doe.com\r\nSubject: persist %d\r\n\r\nbody %d\r\n", i, i)
		if err := submit(p.addr("submission"), "john@doe.com", "Usr-pass-k9W!q", "john@doe.com", []string{"john@doe.com", "far@remote.example"}, msg); err != nil {
			t.Fatalf("message %d: %v\n%s", i, err, p.logs())
		}
	}
	p.kill() // SIGKILL right after the last 250

	// Restart on the same data: the server opens the file and serves again.
	p2 := startServe(t, bin, dir, "--capture")
	if err := submit(p2.addr("submission"), "john@doe.com", "Usr-pass-k9W!q", "john@doe.com", []string{"john@doe.com"}, "From: john@doe.com\r\nSubject: after\r\n\r\nx\r\n"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	p2.kill()

	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ms, err := st.ListMessages("john@doe.com", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, m := range ms {
		b, err := st.Body(m.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\r\n") {
			if strings.HasPrefix(line, "Subject: ") {
				count[strings.TrimPrefix(line, "Subject: ")]++
			}
		}
	}
	for i := 0; i < n; i++ {
		if c := count[fmt.Sprintf("persist %d", i)]; c != 1 {
			t.Errorf("message %d stored %d times", i, c)
		}
	}
	if count["after"] != 1 || len(ms) != n+1 {
		t.Errorf("INBOX has %d messages: %v", len(ms), count)
	}
	q, err := st.ListQueue()
	if err != nil || len(q) != n {
		t.Errorf("queue has %d entries (%v), want %d", len(q), err, n)
	}
	if err := checkDB(st); err != nil {
		t.Fatal(err)
	}
}

// checkDB runs bbolt's consistency check.
func checkDB(st *store.Store) error { return st.Check() }
