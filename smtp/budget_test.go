package smtp

import (
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/smtp/smtpd"
)

// TestInFlightBudget: submission answers 452 4.3.1 (try later) above the
// budget of message bytes in flight — at MAIL for an announced SIZE,
// after the data otherwise — and the session stays usable.
func TestInFlightBudget(t *testing.T) {
	budget := smtpd.NewBudget(64 << 10)
	e := newEnv(t, func(c *Config) { c.InFlight = budget })
	r := e.authed(t, "john@doe.com", userPW)
	r.cmd("MAIL FROM:<john@doe.com> SIZE=100000", "452 4.3.1")
	r.cmd("MAIL FROM:<john@doe.com>", "250")
	r.cmd("RCPT TO:<jane@doe.com>", "250")
	r.cmd("DATA", "354")
	r.send("From: john@doe.com\r\nSubject: big\r\n\r\n" + strings.Repeat(strings.Repeat("z", 98)+"\r\n", 1000) + ".\r\n")
	r.expect("452 4.3.1")
	if budget.Used() != 0 {
		t.Fatalf("budget still holds %d bytes", budget.Used())
	}
	r.cmd("MAIL FROM:<john@doe.com>", "250")
	r.cmd("RCPT TO:<jane@doe.com>", "250")
	r.cmd("DATA", "354")
	r.send("From: john@doe.com\r\nSubject: small\r\n\r\nhi\r\n.\r\n")
	r.expect("250")
	if got := e.inbox(t, "jane@doe.com"); len(got) != 1 {
		t.Fatalf("jane has %d messages, want 1", len(got))
	}
}
