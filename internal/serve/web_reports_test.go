package serve

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/cli"
	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/internal/testutil/webtest"
)

// mailMX sends msg to the server's MX with go-smtp over STARTTLS.
func mailMX(t *testing.T, addr, from, to string, msg []byte) error {
	t.Helper()
	c, err := gosmtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.SendMail(from, []string{to}, strings.NewReader(string(msg)))
}

// TestReportsEndToEnd: a Google zip and a Microsoft gzip DMARC report and
// a TLS report are mailed to the running server's MX; `domain reports`
// (through the control socket) and the panel's Reports tab (headless
// chromium) show the spoofing source first with its reverse name, and
// the TLS failures; the dashboard lists the domain.
func TestReportsEndToEnd(t *testing.T) {
	d := mailtest.StartDNS(t)
	d.Add(t, "77.113.0.203.in-addr.arpa. PTR bulk.mailer.invalid.")
	cfg := tlsTestConfig(t, "localhost")
	cfg.DNS = d.Addr
	ts := startTestServer(t, cfg, nil)
	st := ts.srv.st
	if _, err := st.AddDomain("rep.test"); err != nil {
		t.Fatal(err)
	}
	mx := ts.addr(t, "mx")
	day := time.Now().UTC().AddDate(0, 0, -1)
	for _, m := range []struct {
		from, to string
		msg      []byte
	}{
		{"noreply-dmarc-support@google.com", "dmarc-reports@rep.test", mailtest.GoogleDMARCMail("dmarc-reports@rep.test", "rep.test", mailtest.ReportSample(t, "google.xml", "rep.test", day))},
		{"dmarcreport@microsoft.com", "dmarc-reports@rep.test", mailtest.MicrosoftDMARCMail("dmarc-reports@rep.test", "rep.test", mailtest.ReportSample(t, "microsoft.xml", "rep.test", day))},
		{"tlsrpt-noreply@microsoft.com", "tls-reports@rep.test", mailtest.TLSRPTMail("tls-reports@rep.test", "rep.test", mailtest.ReportSample(t, "microsoft-tlsrpt.json", "rep.test", day))},
	} {
		if err := mailMX(t, mx, m.from, m.to, m.msg); err != nil {
			t.Fatalf("mailing %s: %v", m.from, err)
		}
	}

	// The CLI, through the running server's socket (it holds the file).
	var out, errb strings.Builder
	if code := cli.Main([]string{"domain", "reports", "rep.test", "--data", cfg.Data, "--dns", d.Addr}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("domain reports: %d %s", code, errb.String())
	}
	for _, want := range []string{"2 DMARC reports (25 messages: 22 aligned, 3 failing", "203.0.113.77", "bulk.mailer.invalid", "certificate-host-mismatch 2", "Enterprise Outlook"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("domain reports lacks %q:\n%s", want, out.String())
		}
	}

	ctx := webtest.Browser(t)
	const adminPW = "Reports-Admin-Pass-2026!"
	if err := st.SetAdminPassword(adminPW); err != nil {
		t.Fatal(err)
	}
	base := "https://" + ts.addr(t, "https")
	webtest.SignIn(t, ctx, base, "admin", "admin", adminPW, "#dash-reports")
	if s := webtest.Text(t, ctx, "#dash-reports"); !strings.Contains(s, "rep.test") || !strings.Contains(s, "88%") {
		t.Fatalf("dashboard reports card: %q", s)
	}
	webtest.Do(t, ctx, "open the reports tab",
		chromedp.Navigate(base+"/admin/domains/rep.test"),
		chromedp.Click(chromedp.Search(`//a[normalize-space(.)="Reports"]`)),
		chromedp.WaitVisible(chromedp.CSS("#dmarc-sources")))
	webtest.Shot(t, ctx, "admin-reports")
	first := webtest.Text(t, ctx, "#dmarc-sources tbody tr:first-child")
	for _, want := range []string{"needs attention", "203.0.113.77", "bulk.mailer.invalid", "softfail mailer.invalid", "quarantine", "google.com"} {
		if !strings.Contains(first, want) {
			t.Fatalf("first source row lacks %q: %q", want, first)
		}
	}
	if all := webtest.Text(t, ctx, "#dmarc-sources"); !strings.Contains(all, "192.0.2.25") || !strings.Contains(all, "Enterprise Outlook") {
		t.Fatalf("sources table: %q", all)
	}
	if tlsText := webtest.Text(t, ctx, "#tls-results"); !strings.Contains(tlsText, "certificate-host-mismatch: 2") || !strings.Contains(tlsText, "starttls-not-supported: 1") || !strings.Contains(tlsText, "testing") {
		t.Fatalf("TLS results: %q", tlsText)
	}
	if list := webtest.Text(t, ctx, "#report-list"); strings.Count(list, "DMARC") != 2 || !strings.Contains(list, "download") {
		t.Fatalf("report list: %q", list)
	}

	// At 800 px (and on a phone) the wide tables scroll inside their
	// cards: the page itself is no wider than the window.
	type widths struct{ Doc, View, Table, Box int }
	for _, width := range []int{800, 390} {
		webtest.Do(t, ctx, "narrow window", chromedp.EmulateViewport(int64(width), 900), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#dmarc-sources")))
		w, err := chromedp.Run(ctx, chromedp.Evaluate[widths](`({Doc: document.documentElement.scrollWidth, View: window.innerWidth,
			Table: document.querySelector("#dmarc-sources").scrollWidth, Box: document.querySelector("#dmarc-sources").parentElement.clientWidth})`))
		if err != nil {
			t.Fatal(err)
		}
		if w.View != width || w.Doc > w.View || w.Box > w.View {
			webtest.Shot(t, ctx, fmt.Sprintf("admin-reports-%d", width))
			t.Errorf("at %d px the Reports tab is %d px wide (window %d, DMARC table %d in a box of %d)", width, w.Doc, w.View, w.Table, w.Box)
		}
	}
	webtest.Do(t, ctx, "wide window", chromedp.EmulateViewport(1280, 900))
}
