package smtp

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
)

// TestSwaks drives the rule with swaks, the tool admins use by hand:
// every row, header variants, switch off, wrong password, no TLS on 587,
// implicit TLS on 465.
func TestSwaks(t *testing.T) {
	swaks := testutil.NeedTool(t, "swaks")
	e := newEnv(t, nil)
	type row struct {
		name string
		args []string
		ok   bool
		want string // text the transcript must contain
	}
	tls := func(login, pw, from string, extra ...string) []string {
		return append([]string{"--server", e.sub, "--tls", "--auth", "PLAIN", "--auth-user", login, "--auth-password", pw,
			"--from", from, "--to", "jane@doe.com"}, extra...)
	}
	folded := "From: John\r\n <jane@doe.com>\r\nSubject: folded\r\n\r\nbody\r\n"
	for _, r := range []row{
		{"domain login as anyone", tls("doe.com", domPW, "anyone@doe.com", "--header", "From: Anyone <anyone@doe.com>"), true, "250 2.0.0 OK"},
		{"user login as itself", tls("john@doe.com", userPW, "john@doe.com", "--header", "From: john@doe.com"), true, "250 2.0.0 OK"},
		{"user login with LOGIN", append(tls("john@doe.com", userPW, "john@doe.com", "--header", "From: john@doe.com"), "--auth", "LOGIN"), true, "235"},
		{"cross-domain", tls("doe.com", domPW, "x@other.test", "--header", "From: x@other.test"), false, "553 5.7.1"},
		{"other user of the domain", tls("john@doe.com", userPW, "jane@doe.com", "--header", "From: jane@doe.com"), false, "553 5.7.1"},
		{"header From mismatch", tls("john@doe.com", userPW, "john@doe.com", "--header", "From: Jane <jane@doe.com>"), false, "550 5.7.1"},
		{"header several addresses", tls("john@doe.com", userPW, "john@doe.com", "--header", "From: john@doe.com, jane@doe.com"), false, "550 5.7.1"},
		{"header Sender mismatch", tls("john@doe.com", userPW, "john@doe.com", "--header", "From: john@doe.com", "--header", "Sender: jane@doe.com"), false, "550 5.7.1"},
		{"folded header", tls("john@doe.com", userPW, "john@doe.com", "--data", folded), false, "550 5.7.1"},
		{"switch off", tls("off.test", domPW, "x@off.test"), false, "535 5.7.8 Authenticated SMTP is not enabled"},
		{"wrong password", tls("john@doe.com", "wrong", "john@doe.com"), false, "535 5.7.8"},
		{"MAIL before STARTTLS", []string{"--server", e.sub, "--from", "john@doe.com", "--to", "jane@doe.com"}, false, "530 5.7.0"},
		{"AUTH before STARTTLS", []string{"--server", e.sub, "--auth", "PLAIN", "--auth-user", "john@doe.com", "--auth-password", userPW, "--from", "john@doe.com", "--to", "jane@doe.com"}, false, "not advertise"},
		{"implicit TLS on 465", []string{"--server", e.subs, "--tls-on-connect", "--auth", "PLAIN", "--auth-user", "john@doe.com", "--auth-password", userPW,
			"--from", "john@doe.com", "--to", "jane@doe.com", "--header", "From: john@doe.com"}, true, "250 2.0.0 OK"},
	} {
		t.Run(r.name, func(t *testing.T) {
			before := len(e.inbox(t, "jane@doe.com"))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, swaks, r.args...).CombinedOutput()
			if (err == nil) != r.ok || !strings.Contains(string(out), r.want) {
				t.Fatalf("swaks %v: err %v, want ok=%v and %q:\n%s", r.args, err, r.ok, r.want, out)
			}
			got := len(e.inbox(t, "jane@doe.com")) - before
			if r.ok && got != 1 || !r.ok && got != 0 {
				t.Fatalf("stored %d messages", got)
			}
		})
	}
}

// TestReplyTexts: MAIL, RCPT and NOOP are answered in plain words (not
// go-smtp's "Roger, accepting mail from" and "I'll make sure ... gets
// this"), over STARTTLS as swaks and every submission client sees them.
func TestReplyTexts(t *testing.T) {
	e := newEnv(t, nil)
	r := e.authed(t, "john@doe.com", userPW)
	r.cmd("MAIL FROM:<john@doe.com>", "250 2.1.0 Sender <john@doe.com> accepted")
	r.cmd("RCPT TO:<jane@doe.com>", "250 2.1.5 Recipient <jane@doe.com> accepted")
	r.cmd("NOOP", "250 2.0.0 OK")
	r.cmd("QUIT", "221")

	swaks := testutil.NeedTool(t, "swaks")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, swaks, "--server", e.sub, "--tls", "--auth", "PLAIN", "--auth-user", "john@doe.com",
		"--auth-password", userPW, "--from", "john@doe.com", "--to", "jane@doe.com", "--header", "From: john@doe.com").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	for _, want := range []string{"<~  250 2.1.0 Sender <john@doe.com> accepted", "<~  250 2.1.5 Recipient <jane@doe.com> accepted"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("swaks transcript lacks %q:\n%s", want, out)
		}
	}
	for _, old := range []string{"Roger", "I'll make sure", "successfully done nothing"} {
		if strings.Contains(string(out), old) {
			t.Errorf("transcript still says %q", old)
		}
	}
}
