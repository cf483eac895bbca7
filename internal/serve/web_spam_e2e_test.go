package serve

import (
	"crypto/tls"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/internal/testutil/webtest"
)

// TestWebSpamTabAndJunkButtons, in chromium against a whole server with
// the test DNS server: a message from a client on a "junk" blocklist
// lands in Junk; webmail's Not junk moves it to the INBOX and trains it
// as ham, Junk moves another one and trains it as spam; the admin's Spam
// tab shows the day's counts, the user's and the domain's filter, the
// hits per blocklist zone, and that our own outbound address is listed.
func TestWebSpamTabAndJunkButtons(t *testing.T) {
	ctx := webtest.Browser(t)
	d := mailtest.StartDNS(t)
	d.Add(t, "1.0.0.127.weak.test. 60 IN A 127.0.0.2") // the MX's test client
	d.Add(t, "10.2.0.192.bl.test. 60 IN A 127.0.0.2")  // our own outbound address
	cfg := tlsTestConfig(t, "localhost")
	cfg.DNS, cfg.DNSBL, cfg.OutboundIP = d.Addr, "bl.test,weak.test:junk", "192.0.2.10"
	ts := startTestServer(t, cfg, nil)
	st := ts.srv.st
	const adminPW, userPW = "E2e-Admin-Pass-2026!", "Anna-Pass-2026-long!"
	if err := st.SetAdminPassword(adminPW); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddDomain("shop.test"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDomainSwitch("shop.test", "webmail", true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddUser("anna@shop.test", userPW); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append("anna@shop.test", "INBOX", []byte("From: deals@remote.example\r\nSubject: Cheap watches\r\nMessage-ID: <w1@remote.example>\r\n\r\nbuy now\r\n"), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Through the MX: weak.test lists the client, so the message goes to Junk.
	c, err := gosmtp.DialStartTLS(ts.addr(t, "mx"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.SendMail("news@remote.example", []string{"anna@shop.test"},
		strings.NewReader("From: news@remote.example\r\nTo: anna@shop.test\r\nSubject: Weekly news\r\nMessage-ID: <n1@remote.example>\r\n\r\nthe news\r\n"))
	if err != nil {
		t.Fatalf("MX refused: %v", err)
	}
	if ms, _ := st.ListMessages("anna@shop.test", "Junk"); len(ms) != 1 {
		t.Fatalf("Junk holds %d messages, want the blocklisted one", len(ms))
	}
	base := "https://" + ts.addr(t, "https")

	webtest.SignIn(t, ctx, base, "mail", "anna@shop.test", userPW, "#messages")
	webtest.Do(t, ctx, "open the junked message",
		chromedp.Navigate(base+"/mail/folder?name=Junk"),
		chromedp.Click(chromedp.Search(`//a[contains(., "Weekly news")]`)),
		chromedp.WaitVisible(chromedp.CSS("#notjunk")))
	webtest.Shot(t, ctx, "webmail-junk-message")
	webtest.Do(t, ctx, "Not junk", chromedp.Click(chromedp.CSS("#notjunk")), chromedp.WaitVisible(chromedp.CSS(".list-card")))
	webtest.Do(t, ctx, "open the offer",
		chromedp.Navigate(base+"/mail/folder?name=INBOX"),
		chromedp.Click(chromedp.Search(`//a[contains(., "Cheap watches")]`)),
		chromedp.WaitVisible(chromedp.CSS("#junk")))
	webtest.Do(t, ctx, "Junk", chromedp.Click(chromedp.CSS("#junk")), chromedp.WaitVisible(chromedp.CSS(".list-card")))

	// The moves happened and trained the filter (training runs after the
	// move is committed: wait for it).
	inbox, _ := st.ListMessages("anna@shop.test", "INBOX")
	junked, _ := st.ListMessages("anna@shop.test", "Junk")
	if len(inbox) != 1 || len(junked) != 1 {
		t.Fatalf("after the buttons: INBOX %d, Junk %d", len(inbox), len(junked))
	}
	ib, _ := st.Body(inbox[0].BodyID)
	jb, _ := st.Body(junked[0].BodyID)
	if !strings.Contains(string(ib), "Weekly news") || !strings.Contains(string(jb), "Cheap watches") {
		t.Fatalf("after the buttons: INBOX has %q, Junk has %q", ib, jb)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		tot, _ := st.Junk.Totals("anna@shop.test")
		if tot.Spam == 1 && tot.Ham == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("filter totals %+v, want 1 spam and 1 ham", tot)
		}
		time.Sleep(20 * time.Millisecond)
	}

	webtest.SignIn(t, ctx, base, "admin", "admin", adminPW, "#n-domains")
	webtest.Do(t, ctx, "spam tab", chromedp.Navigate(base+"/admin/domains/shop.test/spam"), chromedp.WaitVisible(chromedp.CSS("#dns-lists")))
	webtest.Shot(t, ctx, "admin-spam-tab")
	ws := regexp.MustCompile(`\s+`)
	text := func(sel string) string { return ws.ReplaceAllString(webtest.Text(t, ctx, sel), " ") }
	today := time.Now().UTC().Format(time.DateOnly)
	if days := text("#spam-days"); !strings.Contains(days, today+" 1 1 0") {
		t.Errorf("today's row (1 received, 1 to Junk, 0 refused) missing: %q", days)
	}
	users := text("#spam-users")
	if !strings.Contains(users, "anna@shop.test 1 1") || !strings.Contains(users, "shop.test (shared by all users) 1 1") || !strings.Contains(users, "learning") {
		t.Errorf("filter states: %q", users)
	}
	if hits := text("#dnsbl-hits"); !strings.Contains(hits, "bl.test blocklist (refused) 0") || !strings.Contains(hits, "weak.test blocklist (to Junk) 1") {
		t.Errorf("hits per zone: %q", hits)
	}
	// The first look-up runs when the MX starts; reload until it shows.
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(text("#dns-lists"), "192.0.2.10"); {
		if time.Now().After(deadline) {
			t.Fatalf("own address never checked: %q", text("#dns-lists"))
		}
		time.Sleep(100 * time.Millisecond)
		webtest.Do(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#dns-lists")))
	}
	own := text("#own-listings")
	if !strings.Contains(own, "bl.test listed") || !strings.Contains(own, "weak.test not listed") {
		t.Errorf("own listings: %q", own)
	}
	if ip := text("#own-ip"); !strings.Contains(ip, "192.0.2.10") || !strings.Contains(ip, "--outbound-ip") {
		t.Errorf("own address line: %q", ip)
	}
	// The dashboard's glance line says the same, from the same real
	// look-up (webui's TestAdminDashboardGlance feeds it stub data: webui
	// tests may not run the MX).
	webtest.Do(t, ctx, "dashboard", chromedp.Navigate(base+"/admin"), chromedp.WaitVisible(chromedp.CSS("#dash-own-ip")))
	if dash := text("#dash-own-ip"); !strings.Contains(dash, "192.0.2.10") || !strings.Contains(dash, "listed on bl.test") || strings.Contains(dash, "weak.test") {
		t.Errorf("dashboard outbound address line: %q", dash)
	}
}
