package serve

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/authsmtp/authsmtp/internal/testutil/webtest"
	"github.com/authsmtp/authsmtp/smtp/mtasts"
)

// TestMTASTSModeInPanel: the admin chooses the MTA-STS mode on the
// domain's DNS page in headless chromium; the store, the policy served at
// mta-sts.<domain> and the _mta-sts record shown on the page follow.
func TestMTASTSModeInPanel(t *testing.T) {
	ts := startTestServer(t, tlsTestConfig(t, "mail.sts.test"), nil)
	st := ts.srv.st
	if _, err := st.AddDomain("sts.test"); err != nil {
		t.Fatal(err)
	}
	const adminPW = "Sts-Admin-Pass-2026!"
	if err := st.SetAdminPassword(adminPW); err != nil {
		t.Fatal(err)
	}
	httpsAddr := ts.addr(t, "https")
	served := func() mtasts.Policy {
		t.Helper()
		client := &http.Client{Transport: &http.Transport{
			// The self-signed certificate; the ACME test covers a real one.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
			},
		}}
		p, _, err := mtasts.Fetch(context.Background(), client, "sts.test")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := served(); p.Mode != mtasts.ModeTesting {
		t.Fatalf("default policy mode %s", p.Mode)
	}

	ctx := webtest.Browser(t)
	base := "https://" + httpsAddr
	webtest.SignIn(t, ctx, base, "admin", "admin", adminPW, "#dash-reports")
	webtest.Do(t, ctx, "open the DNS tab",
		chromedp.Navigate(base+"/admin/domains/sts.test"),
		chromedp.Click(chromedp.Search(`//a[normalize-space(.)="DNS"]`)),
		chromedp.WaitVisible(chromedp.CSS("#mta-sts-mode")))
	if cur := webtest.Text(t, ctx, "#mta-sts-current"); cur != "testing" {
		t.Fatalf("current mode shown %q", cur)
	}
	before := webtest.Text(t, ctx, "table.dns")
	webtest.Do(t, ctx, "choose enforce",
		chromedp.SetValue(chromedp.CSS("#mta-sts-mode"), "enforce"),
		chromedp.Click(chromedp.CSS("#mta-sts-save")),
		chromedp.WaitVisible(chromedp.CSS("#flash")))
	webtest.Shot(t, ctx, "admin-mta-sts-mode")
	if f := webtest.Text(t, ctx, "#flash"); !strings.Contains(f, "now enforce") {
		t.Fatalf("flash %q", f)
	}
	if cur := webtest.Text(t, ctx, "#mta-sts-current"); cur != "enforce" {
		t.Fatalf("current mode shown %q after saving enforce", cur)
	}
	if d, _ := st.GetDomain("sts.test"); d.MTASTSMode != "enforce" {
		t.Fatalf("stored mode %q", d.MTASTSMode)
	}
	p := served()
	if p.Mode != mtasts.ModeEnforce {
		t.Fatalf("served policy mode %s after the panel chose enforce", p.Mode)
	}
	after := webtest.Text(t, ctx, "table.dns")
	if after == before || !strings.Contains(after, "v=STSv1; id="+p.ID()) {
		t.Fatalf("the DNS page does not show the new _mta-sts id %s:\n%s", p.ID(), after)
	}
	// A value not in the list is refused, and nothing changes.
	webtest.Do(t, ctx, "post a bad mode",
		chromedp.SetAttributeValue(chromedp.CSS("#mta-sts-mode option[value=none]"), "value", "sure"),
		chromedp.SetValue(chromedp.CSS("#mta-sts-mode"), "sure"),
		chromedp.Click(chromedp.CSS("#mta-sts-save")),
		chromedp.WaitVisible(chromedp.CSS("#flash.err")))
	if d, _ := st.GetDomain("sts.test"); d.MTASTSMode != "enforce" {
		t.Fatalf("a bad mode changed the stored mode to %q", d.MTASTSMode)
	}
}
