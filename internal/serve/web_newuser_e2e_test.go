package serve

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authsmtp/authsmtp/internal/testutil/webtest"
)

// TestWebPanelPortsPostmasterAndAttachmentIcon, in chromium: the domain
// page names the submission ports really served and warns while the
// domain has no postmaster (the warning goes once one is chosen in the
// panel); webmail marks a message with an attachment by an SVG icon, not
// an emoji that shows as an empty box without emoji fonts.
func TestWebPanelPortsPostmasterAndAttachmentIcon(t *testing.T) {
	ctx := webtest.Browser(t)
	cfg := tlsTestConfig(t, "localhost")
	cfg.IMAP = "" // off: the page must not name it
	ts := startTestServer(t, cfg, nil)
	st := ts.srv.st
	const adminPW, userPW = "E2e-Admin-Pass-2026!", "Anna-Pass-2026-long!"
	if err := st.SetAdminPassword(adminPW); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddDomain("shop.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddUser("anna@shop.test", userPW); err != nil {
		t.Fatal(err)
	}
	base := "https://" + ts.addr(t, "https")
	port := func(svc string) string {
		_, p, _ := net.SplitHostPort(ts.addr(t, svc))
		return p
	}

	webtest.SignIn(t, ctx, base, "admin", "admin", adminPW, "#n-domains")
	webtest.Do(t, ctx, "domain page", chromedp.Navigate(base+"/admin/domains/shop.test"), chromedp.WaitVisible(chromedp.CSS("#smtp-server")))
	server := webtest.Text(t, ctx, "#smtp-server")
	if !strings.Contains(server, "port "+port("submission")+" (STARTTLS)") || !strings.Contains(server, "port "+port("submissions")+" (TLS)") {
		t.Errorf("domain page says %q; served: submission %s, submissions %s", server, port("submission"), port("submissions"))
	}
	if imap := webtest.Text(t, ctx, "#imap-server"); !strings.Contains(imap, "port "+port("imaps")+" (TLS)") || strings.Contains(imap, "STARTTLS") {
		t.Errorf("IMAP line %q (993-style listener on %s, 143-style off)", imap, port("imaps"))
	}
	webtest.Do(t, ctx, "postmaster warning", chromedp.WaitVisible(chromedp.CSS("#postmaster-warning")))
	webtest.Shot(t, ctx, "admin-domain-no-postmaster")
	webtest.Do(t, ctx, "choose the postmaster",
		chromedp.Navigate(base+"/admin/domains/shop.test/users"),
		chromedp.WaitVisible(chromedp.CSS("#postmaster")),
		chromedp.SetValue(chromedp.CSS("#postmaster"), "anna@shop.test"),
		chromedp.Click(chromedp.CSS("#set-postmaster button")),
		chromedp.WaitVisible(chromedp.CSS("#flash")))
	if d, _ := st.GetDomain("shop.test"); d.Postmaster != "anna@shop.test" {
		t.Fatalf("postmaster not set from the panel: %q (%s)", d.Postmaster, webtest.Text(t, ctx, "#flash"))
	}
	webtest.Do(t, ctx, "domain page again", chromedp.Navigate(base+"/admin/domains/shop.test"), chromedp.WaitVisible(chromedp.CSS("#smtp-server")))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#postmaster-warning").length`)); err != nil || n != 0 {
		t.Errorf("postmaster warning still shown (%d, %v)", n, err)
	}

	msg := "From: Bob <bob@example.org>\r\nTo: anna@shop.test\r\nSubject: Invoice attached\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=invoice.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
	if _, err := st.Append("anna@shop.test", "INBOX", []byte(msg), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	webtest.SignIn(t, ctx, base, "mail", "anna@shop.test", userPW, "#messages")
	webtest.Do(t, ctx, "folder", chromedp.Navigate(base+"/mail/folder?name=INBOX"), chromedp.WaitVisible(chromedp.CSS("#messages")))
	webtest.Shot(t, ctx, "webmail-attachment-icon")
	type icon struct {
		Count int     `json:"count"`
		Text  string  `json:"text"`
		Mask  string  `json:"mask"`
		W     float64 `json:"w"`
		H     float64 `json:"h"`
		Emoji bool    `json:"emoji"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[icon](`(() => {
		const els = document.querySelectorAll("#messages .att");
		const el = els[0];
		const cs = el ? getComputedStyle(el) : null;
		const r = el ? el.getBoundingClientRect() : {width: 0, height: 0};
		return {count: els.length, text: el ? el.textContent : "", mask: cs ? (cs.maskImage || cs.webkitMaskImage || "") : "",
			w: r.width, h: r.height, emoji: document.body.innerText.includes("\u{1F4CE}")};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Count != 1 || strings.TrimSpace(got.Text) != "" || !strings.Contains(got.Mask, "image/svg+xml") || got.W < 8 || got.H < 8 || got.Emoji {
		t.Errorf("attachment icon: %+v, want one SVG-masked element of icon size and no emoji", got)
	}
}
