package serve

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-milter"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/miltertest"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/webui"
)

// --submission-milter reaches webmail too: the server's webmail
// submitter hands the milter's refusal to webui as the text to show.
func TestSubmissionMilterWebmail(t *testing.T) {
	m := miltertest.Start(t, func(*milter.Modifier) (milter.Response, error) {
		return milter.NewResponseStr('y', "554 5.7.1 virus found: Eicar-Test-Signature"), nil
	})
	cfg := tlsTestConfig(t, "localhost")
	cfg.SubmissionMilter = m.Addr
	ts := startTestServer(t, cfg, nil)
	st := ts.srv.st
	if _, err := st.AddDomain("shop.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddUser("anna@shop.test", "Anna-Pass-2026-long!"); err != nil {
		t.Fatal(err)
	}
	who := store.Principal{Kind: store.KindUser, Domain: "shop.test", Address: "anna@shop.test"}
	_, err := ts.srv.webConfig().Submitter.Submit(context.Background(), who, "anna@shop.test", []string{"anna@shop.test"},
		[]byte("From: anna@shop.test\r\nTo: anna@shop.test\r\nSubject: x\r\n\r\nX5O!P%@AP\r\n"))
	var refused *webui.Refused
	if !errors.As(err, &refused) || refused.Reason != "virus found: Eicar-Test-Signature" {
		t.Fatalf("webmail got %v, want the milter's reason", err)
	}
	if ms, _ := st.ListMessages("anna@shop.test", "INBOX"); len(ms) != 0 {
		t.Fatalf("stored %d messages", len(ms))
	}
	if m.Macro("{daemon_name}") != "submission" || m.Macro("{auth_authen}") != "anna@shop.test" {
		t.Errorf("macros daemon_name=%q auth_authen=%q", m.Macro("{daemon_name}"), m.Macro("{auth_authen}"))
	}
}

// A --submission-milter that does not parse stops the start with a
// message naming the flag.
func TestSubmissionMilterBadFlag(t *testing.T) {
	cfg := tlsTestConfig(t, "localhost")
	cfg.SubmissionMilter = "no-port-here"
	st, err := store.Open(cfg.Data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := &server{cfg: cfg, st: st, log: testutil.Logger(t), out: &strings.Builder{}}
	err = srv.start(context.Background())
	srv.stopAll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--submission-milter") || !strings.Contains(err.Error(), "no-port-here") {
		t.Fatalf("start: %v", err)
	}
}
