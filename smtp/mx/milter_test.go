package mx

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-milter"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/testutil/miltertest"
	"github.com/authsmtp/authsmtp/smtp/milters"
)

func TestMilterActions(t *testing.T) {
	msg := []byte("From: <someone@sender.test>\r\nTo: <alice@a.test>\r\nSubject: Hello\r\nX-Remove-Me: yes\r\nX-Spam-Flag: YES-forged\r\nMessage-ID: <m1@sender.test>\r\n\r\nthe body text\r\n")
	cases := []struct {
		name    string
		body    func(m *milter.Modifier) (milter.Response, error)
		code    int
		ec      gosmtp.EnhancedCode
		text    string
		box     string
		has     []string
		hasNot  []string
		nothing bool
	}{
		{name: "accept with header changes", box: "INBOX",
			body: func(m *milter.Modifier) (milter.Response, error) {
				m.AddHeader("X-Spam-Status", "Yes, score=9.1 (from the milter)")
				m.ChangeHeader(1, "Subject", "[scanned] Hello")
				m.ChangeHeader(1, "X-Remove-Me", "")
				m.InsertHeader(0, "X-Virus-Scanned", "clean")
				return milter.RespAccept, nil
			},
			has:    []string{"X-Spam-Status: Yes, score=9.1 (from the milter)", "Subject: [scanned] Hello", "X-Virus-Scanned: clean", "the body text"},
			hasNot: []string{"X-Remove-Me", "YES-forged", "Subject: Hello"}},
		{name: "reject", code: 550, ec: gosmtp.EnhancedCode{5, 7, 1}, nothing: true,
			body: func(*milter.Modifier) (milter.Response, error) { return milter.RespReject, nil }},
		{name: "tempfail", code: 451, ec: gosmtp.EnhancedCode{4, 7, 1}, nothing: true,
			body: func(*milter.Modifier) (milter.Response, error) { return milter.RespTempFail, nil }},
		{name: "reply code", code: 554, ec: gosmtp.EnhancedCode{5, 7, 1}, text: "virus found: Eicar", nothing: true,
			body: func(*milter.Modifier) (milter.Response, error) {
				return milter.NewResponseStr('y', "554 5.7.1 virus found: Eicar"), nil
			}},
		{name: "discard", nothing: true,
			body: func(*milter.Modifier) (milter.Response, error) { return milter.RespDiscard, nil }},
		{name: "quarantine", box: "Junk", has: []string{"the body text"},
			body: func(m *milter.Modifier) (milter.Response, error) {
				m.Quarantine("spam score 15")
				return milter.RespAccept, nil
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := miltertest.Start(t, c.body)
			ms, _ := milters.Parse(srv.Addr)
			e := newMX(t, func(cfg *Config) { cfg.Milters = ms; cfg.MilterTimeout = 5 * time.Second })
			err := e.send(t, "someone@sender.test", []string{"alice@a.test"}, msg)
			if c.code != 0 {
				se, _ := err.(*gosmtp.SMTPError)
				if se == nil || se.Code != c.code || se.EnhancedCode != c.ec || !strings.Contains(se.Message, c.text) {
					t.Fatalf("got %v, want %d %v %q", err, c.code, c.ec, c.text)
				}
			} else if err != nil {
				t.Fatalf("refused: %v", err)
			}
			all := strings.Join(srv.Seen(), "\n")
			for _, want := range []string{"from someone@sender.test", "rcpt alice@a.test", "header Subject: Hello", "body the body text"} {
				if !strings.Contains(all, want) {
					t.Errorf("the milter did not see %q:\n%s", want, all)
				}
			}
			// The connection's macros reach the milter (they were once
			// overwritten by the next stage's before it read them).
			if srv.Macro("{daemon_name}") != "authsmtp" || srv.Macro("j") == "" || srv.Macro("i") == "" {
				t.Errorf("macros daemon_name=%q j=%q i=%q", srv.Macro("{daemon_name}"), srv.Macro("j"), srv.Macro("i"))
			}
			if strings.Contains(all, "YES-forged") {
				t.Error("the milter was shown the X-Spam field from outside")
			}
			in, junk := e.mailbox(t, "alice@a.test", "INBOX"), e.mailbox(t, "alice@a.test", "Junk")
			if c.nothing {
				if len(in)+len(junk) != 0 {
					t.Fatalf("stored %d+%d messages", len(in), len(junk))
				}
				return
			}
			got := map[string][]string{"INBOX": in, "Junk": junk}[c.box]
			if len(got) != 1 || len(in)+len(junk) != 1 {
				t.Fatalf("INBOX %d, Junk %d; want it in %s", len(in), len(junk), c.box)
			}
			for _, w := range c.has {
				if !strings.Contains(got[0], w) {
					t.Errorf("stored message lacks %q:\n%s", w, got[0])
				}
			}
			for _, w := range c.hasNot {
				if strings.Contains(got[0], w) {
					t.Errorf("stored message still has %q:\n%s", w, got[0])
				}
			}
		})
	}
}

// A milter that accepts the connection and never answers, and one that
// is down: the default decides, within the timeout, never a hang.
func TestMilterHangsOrDown(t *testing.T) {
	hang, down := miltertest.Hang(t), miltertest.Down(t)
	for _, c := range []struct {
		name   string
		addr   string
		accept bool
	}{{"hangs, tempfail", hang, false}, {"hangs, accept", hang, true},
		{"down, tempfail", down, false}, {"down, accept", down, true}} {
		t.Run(c.name, func(t *testing.T) {
			ms, _ := milters.Parse(c.addr)
			e := newMX(t, func(cfg *Config) {
				cfg.Milters, cfg.MilterTimeout, cfg.MilterDefaultAccept = ms, 500*time.Millisecond, c.accept
			})
			start := time.Now()
			err := e.send(t, "someone@sender.test", []string{"alice@a.test"}, junkMsg("someone@sender.test", "Hi", hamText, 1))
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v", d)
			}
			n := len(e.mailbox(t, "alice@a.test", "INBOX"))
			if c.accept {
				if err != nil || n != 1 {
					t.Fatalf("default accept: %v, INBOX %d", err, n)
				}
				return
			}
			se, _ := err.(*gosmtp.SMTPError)
			if se == nil || se.Code != 451 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 7, 1}) || n != 0 {
				t.Fatalf("default tempfail: %v, INBOX %d", err, n)
			}
		})
	}
}
