package webui

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/webui/autoconfig"
)

// withPorts serves the same store through a web UI told which mail ports
// the server listens on.
func (e *env) withPorts(t *testing.T, ports autoconfig.Ports) *env {
	ui, err := New(Config{Store: e.st, Events: e.st.Events, Throttle: e.st.Throttle, Junk: e.st.Junk, Hostname: "mail.doe.test", MailPorts: func() autoconfig.Ports { return ports },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(t, err)
	e2 := *e
	e2.ui = ui
	e2.ts = httptest.NewTLSServer(ui.Handler())
	t.Cleanup(e2.ts.Close)
	return &e2
}

// The domain page names the ports really served, not a fixed 587/465.
func TestDomainPageShowsServedPorts(t *testing.T) {
	e := newEnv(t).withPorts(t, autoconfig.Ports{Submission: 2600, IMAPS: 2700})
	c := e.client()
	c.login("admin", "admin", adminPW)
	_, page := c.get("/admin/domains/" + testDom)
	for _, want := range []string{`port <span class="port">2600</span> (STARTTLS)`, `port <span class="port">2700</span> (TLS)`} {
		if !strings.Contains(page, want) {
			t.Errorf("domain page lacks %q", want)
		}
	}
	for _, stale := range []string{"465", "587", "993"} {
		if strings.Contains(page, stale) {
			t.Errorf("domain page names port %s, which is not served", stale)
		}
	}
	e = e.withPorts(t, autoconfig.Ports{IMAP: 143})
	c = e.client()
	c.login("admin", "admin", adminPW)
	if _, page := c.get("/admin/domains/" + testDom); !strings.Contains(page, `id="no-submission"`) {
		t.Error("no warning when no submission listener runs")
	}
}

// The panel warns while a domain has no postmaster, says how many
// messages wait, and choosing one moves them and ends the warning.
func TestPanelPostmaster(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("admin", "admin", adminPW)
	if _, err := e.st.Accept(&store.Incoming{From: "r@remote.test", Local: []store.LocalRcpt{{Address: "postmaster@" + testDom}},
		Body: []byte("From: r@remote.test\r\nSubject: dmarc report\r\n\r\nx\r\n")}); err != nil {
		t.Fatal(err)
	}
	_, page := c.get("/admin/domains/" + testDom)
	if !strings.Contains(page, `id="postmaster-warning"`) || !strings.Contains(page, "1 message(s) waiting") {
		t.Fatalf("no postmaster warning with the held count on the domain page")
	}
	_, users := c.get("/admin/domains/" + testDom + "/users")
	if !strings.Contains(users, `id="postmaster-warning"`) && !strings.Contains(users, "No postmaster yet") {
		t.Fatal("users page does not say there is no postmaster")
	}
	resp, _ := c.post("/admin/domains/"+testDom+"/postmaster", url.Values{"postmaster": {"nobody@" + testDom}})
	wantStatus(t, "unknown user", resp, http.StatusSeeOther)
	if d, _ := e.st.GetDomain(testDom); d.Postmaster != "" {
		t.Fatalf("postmaster set to a user that does not exist: %q", d.Postmaster)
	}
	resp, _ = c.post("/admin/domains/"+testDom+"/postmaster", url.Values{"postmaster": {testUser}})
	wantStatus(t, "set postmaster", resp, http.StatusSeeOther)
	if got := e.mailbox(testUser, "INBOX"); len(got) != 1 || !strings.Contains(got[0], "dmarc report") {
		t.Fatalf("held mail not in the postmaster's INBOX: %d", len(got))
	}
	_, page = c.get("/admin/domains/" + testDom)
	if strings.Contains(page, `id="postmaster-warning"`) {
		t.Fatal("warning still shown after choosing a postmaster")
	}
	_, users = c.get("/admin/domains/" + testDom + "/users")
	if !strings.Contains(users, `<option value="`+testUser+`" selected>`) {
		t.Fatal("the chosen postmaster is not selected on the users page")
	}
}
