package smtp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-milter"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/miltertest"
	"github.com/authsmtp/authsmtp/smtp/milters"
	"github.com/authsmtp/authsmtp/store"
)

// newMilterEnv is newEnv with the submission milters at addrs.
func newMilterEnv(t *testing.T, accept bool, timeout time.Duration, addrs ...string) *env {
	t.Helper()
	st := testutil.Store(t)
	testutil.Domain(t, st, "doe.com", domPW, true)
	testutil.User(t, st, "john@doe.com", userPW)
	testutil.User(t, st, "jane@doe.com", "Jan-pass-h3Y!p")
	ms, err := milters.Parse(strings.Join(addrs, ","))
	if err != nil {
		t.Fatal(err)
	}
	return startEnvPipeline(t, st, nil, func(p *Pipeline) {
		p.Milters = &milters.Chain{Milters: ms, Timeout: timeout, DefaultAccept: accept, Hostname: "mail.test", Daemon: "submission"}
	})
}

// Submission milters (--submission-milter): every answer a milter can
// give reaches the submitting client as a clear reply, header changes
// land in the stored message, and the milter is told who logged in.
func TestSubmissionMilterActions(t *testing.T) {
	body := msg("From: <john@doe.com>", "To: <jane@doe.com>", "X-Remove-Me: yes")
	cases := []struct {
		name     string
		answer   func(m *milter.Modifier) (milter.Response, error)
		code     string // "" : accepted
		text     string
		stored   bool
		has, not []string
	}{
		{name: "accept with header changes", stored: true,
			answer: func(m *milter.Modifier) (milter.Response, error) {
				m.AddHeader("X-Virus-Scanned", "clean by the test milter")
				m.ChangeHeader(1, "X-Remove-Me", "")
				return milter.RespAccept, nil
			},
			has: []string{"X-Virus-Scanned: clean by the test milter", "Hello."}, not: []string{"X-Remove-Me"}},
		{name: "reject", code: "550 5.7.1", text: "refused by a content filter",
			answer: func(*milter.Modifier) (milter.Response, error) { return milter.RespReject, nil }},
		{name: "tempfail", code: "451 4.7.1", text: "try again later",
			answer: func(*milter.Modifier) (milter.Response, error) { return milter.RespTempFail, nil }},
		{name: "virus reply", code: "554 5.7.1", text: "virus found: Eicar-Test-Signature",
			answer: func(*milter.Modifier) (milter.Response, error) {
				return milter.NewResponseStr('y', "554 5.7.1 virus found: Eicar-Test-Signature"), nil
			}},
		{name: "quarantine refuses", code: "550 5.7.1", text: "held for review",
			answer: func(m *milter.Modifier) (milter.Response, error) {
				m.Quarantine("held for review")
				return milter.RespAccept, nil
			}},
		{name: "discard", answer: func(*milter.Modifier) (milter.Response, error) { return milter.RespDiscard, nil }},
		{name: "a changed From: still passes the send rule", code: "550 5.7.1", text: "boss@doe.com",
			answer: func(m *milter.Modifier) (milter.Response, error) {
				m.ChangeHeader(1, "From", "<boss@doe.com>")
				return milter.RespAccept, nil
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := miltertest.Start(t, c.answer)
			e := newMilterEnv(t, false, 5*time.Second, srv.Addr)
			err := e.send(t, "john@doe.com", userPW, "john@doe.com", []string{"jane@doe.com"}, body)
			if c.code != "" {
				wantCode(t, err, c.code, c.text)
			} else if err != nil {
				t.Fatalf("refused: %v", err)
			}
			seen := strings.Join(srv.Seen(), "\n")
			for _, w := range []string{"from john@doe.com", "rcpt jane@doe.com", "header X-Remove-Me: yes", "body Hello."} {
				if !strings.Contains(seen, w) {
					t.Errorf("the milter was not shown %q:\n%s", w, seen)
				}
			}
			if got := srv.Macro("{daemon_name}"); got != "submission" {
				t.Errorf("{daemon_name} = %q", got)
			}
			if got := srv.Macro("{auth_authen}"); got != "john@doe.com" {
				t.Errorf("{auth_authen} = %q, want the login", got)
			}
			in := e.inbox(t, "jane@doe.com")
			if !c.stored {
				if len(in) != 0 {
					t.Fatalf("stored %d messages, want none", len(in))
				}
				return
			}
			if len(in) != 1 {
				t.Fatalf("INBOX has %d messages, want 1", len(in))
			}
			for _, w := range c.has {
				if !strings.Contains(in[0], w) {
					t.Errorf("stored message lacks %q:\n%s", w, in[0])
				}
			}
			for _, w := range c.not {
				if strings.Contains(in[0], w) {
					t.Errorf("stored message still has %q:\n%s", w, in[0])
				}
			}
			if !strings.HasPrefix(in[0], "Received:") {
				t.Errorf("our Received field is not on top:\n%s", in[0])
			}
		})
	}
}

// Two milters in a row: the second sees the first's header changes, and
// a refusal of the second wins.
func TestSubmissionMilterChain(t *testing.T) {
	first := miltertest.Start(t, func(m *milter.Modifier) (milter.Response, error) {
		m.AddHeader("X-First", "was here")
		return milter.RespAccept, nil
	})
	second := miltertest.Start(t, func(*milter.Modifier) (milter.Response, error) { return milter.RespReject, nil })
	e := newMilterEnv(t, false, 5*time.Second, first.Addr, second.Addr)
	err := e.send(t, "john@doe.com", userPW, "john@doe.com", []string{"jane@doe.com"}, msg("From: <john@doe.com>"))
	wantCode(t, err, "550 5.7.1")
	if seen := strings.Join(second.Seen(), "\n"); !strings.Contains(seen, "header X-First: was here") {
		t.Errorf("the second milter did not see the first's change:\n%s", seen)
	}
}

// A milter that hangs or is down: the configured default decides within
// the timeout (tempfail: 451 4.7.1; accept: delivered as is).
func TestSubmissionMilterHangsOrDown(t *testing.T) {
	hang, down := miltertest.Hang(t), miltertest.Down(t)
	for _, c := range []struct {
		name   string
		addr   string
		accept bool
	}{{"hangs, tempfail", hang, false}, {"hangs, accept", hang, true}, {"down, tempfail", down, false}, {"down, accept", down, true}} {
		t.Run(c.name, func(t *testing.T) {
			e := newMilterEnv(t, c.accept, 300*time.Millisecond, c.addr)
			start := time.Now()
			err := e.send(t, "john@doe.com", userPW, "john@doe.com", []string{"jane@doe.com"}, msg("From: <john@doe.com>"))
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v", d)
			}
			n := len(e.inbox(t, "jane@doe.com"))
			if c.accept {
				if err != nil || n != 1 {
					t.Fatalf("default accept: %v, INBOX %d", err, n)
				}
				return
			}
			wantCode(t, err, "451 4.7.1", "content filter unavailable")
			if n != 0 {
				t.Fatalf("default tempfail stored %d messages", n)
			}
		})
	}
}

// Webmail submits through the same pipeline: a milter's refusal comes
// back from Submit as the SMTP error webmail shows.
func TestSubmissionMilterWebmailPath(t *testing.T) {
	srv := miltertest.Start(t, func(*milter.Modifier) (milter.Response, error) {
		return milter.NewResponseStr('y', "550 5.7.1 attachment type not allowed"), nil
	})
	e := newMilterEnv(t, false, 5*time.Second, srv.Addr)
	who := store.Principal{Kind: store.KindUser, Domain: "doe.com", Address: "john@doe.com"}
	_, err := e.pipe.Submit(context.Background(), who, "john@doe.com", []string{"jane@doe.com"},
		[]byte(msg("From: <john@doe.com>", "To: <jane@doe.com>")))
	wantCode(t, err, "550 5.7.1", "attachment type not allowed")
	if n := len(e.inbox(t, "jane@doe.com")); n != 0 {
		t.Fatalf("stored %d messages", n)
	}
}
