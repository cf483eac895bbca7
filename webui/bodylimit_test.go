package webui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A client without a session may send only a small body; a signed-in one
// gets its full size back (attachments).
func TestAnonymousBodyIsSmallSignedInBodyIsNot(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.get("/mail/login")
	pad := strings.Repeat("x", anonBodyMax)
	resp, _ := c.post("/mail/login", url.Values{"login": {testUser}, "password": {userPW}, "pad": {pad}})
	if resp.StatusCode == http.StatusSeeOther {
		t.Fatalf("a %d-byte anonymous body was read whole: signed in", len(pad))
	}
	resp, _ = c.post("/mail/login", url.Values{"login": {testUser}, "password": {userPW}, "pad": {pad[:1000]}})
	wantStatus(t, "login with a small body", resp, http.StatusSeeOther)

	c.get("/mail/compose")
	big := strings.Repeat("a long line of a long message\n", 8000) // 240 KB
	resp, _ = c.post("/mail/compose", url.Values{"to": {testUser}, "subject": {"big"}, "body": {big}})
	wantStatus(t, "signed-in compose of 240 KB", resp, http.StatusSeeOther)
	var found bool
	for _, m := range e.mailbox(testUser, "INBOX") {
		found = found || strings.Contains(m, "Subject: big")
	}
	if !found {
		t.Fatal("the large message from a signed-in session did not arrive")
	}
}

func TestHealthzNamesAStoppedListener(t *testing.T) {
	e := newEnv(t)
	var down error
	e.ui.cfg.Listeners = func() error { return down }
	resp, body := e.client().get("/healthz")
	wantStatus(t, "healthz with every listener up", resp, http.StatusOK)
	down = errors.New("imaps stopped: accept tcp: invalid argument")
	resp, body = e.client().get("/healthz")
	wantStatus(t, "healthz with a stopped listener", resp, http.StatusServiceUnavailable)
	if !strings.Contains(body, "imaps stopped") {
		t.Fatalf("healthz body %q does not name the listener", body)
	}
}
