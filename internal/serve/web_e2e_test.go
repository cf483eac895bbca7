package serve

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/webtest"
)

// The browser tests drive Debian's chromium headless through chromedp
// against an in-process server (all listeners on 127.0.0.1:0), and save
// screenshots to test-artifacts/ for a person to look at.

func TestWebBrowserEndToEnd(t *testing.T) {
	swaks := testutil.NeedTool(t, "swaks")
	ctx := webtest.Browser(t)
	cfg := tlsTestConfig(t, "localhost")
	ts := startTestServer(t, cfg, nil)
	st := ts.srv.st
	const adminPW = "E2e-Admin-Pass-2026!"
	if err := st.SetAdminPassword(adminPW); err != nil {
		t.Fatal(err)
	}
	base := "https://" + ts.addr(t, "https")

	// 1. The admin adds a domain, sets its password with Generate, turns
	// on Authenticated SMTP and Webmail, and adds a user.
	webtest.Do(t, ctx, "webmail login page", chromedp.Navigate(base+"/mail/login"), chromedp.WaitVisible(chromedp.CSS("#login")))
	webtest.Shot(t, ctx, "webmail-login")
	webtest.SignIn(t, ctx, base, "admin", "admin", adminPW, "#n-domains")
	webtest.Shot(t, ctx, "admin-dashboard-empty")
	webtest.Do(t, ctx, "add domain",
		chromedp.Navigate(base+"/admin/domains"),
		chromedp.SendKeys(chromedp.CSS("#new-domain"), "www.Shop.Test"),
		chromedp.Click(chromedp.CSS("#add-domain button")),
		chromedp.WaitVisible(chromedp.CSS("#smtp-username")))
	if u := webtest.Text(t, ctx, "#smtp-username"); u != "shop.test" {
		t.Fatalf("Authenticated SMTP username %q, want shop.test", u)
	}
	webtest.Do(t, ctx, "generate domain password", chromedp.Click(chromedp.CSS(`button[data-gen="domain-pw"]`)))
	domPW := webtest.Value(t, ctx, "#domain-pw")
	if len(domPW) < 16 || webtest.Value(t, ctx, "#domain-pw2") != domPW {
		t.Fatalf("generated password %q not filled in both fields", domPW)
	}
	webtest.Shot(t, ctx, "admin-domain-generated-password")
	webtest.Do(t, ctx, "set domain password",
		chromedp.Click(chromedp.CSS("#set-domain-pw")),
		// The page before had a flash too: wait for the new state itself.
		chromedp.WaitVisible(chromedp.CSS("#pw-state.on")))
	if s := webtest.Text(t, ctx, "#pw-state"); s != "set" {
		t.Fatalf("password state %q after setting %q: %s", s, domPW, webtest.Text(t, ctx, "#flash"))
	}
	webtest.Do(t, ctx, "turn on smtp", chromedp.Click(chromedp.CSS("#switch-smtp")), chromedp.WaitVisible(chromedp.CSS("#switch-smtp.on")))
	webtest.Do(t, ctx, "turn on webmail", chromedp.Click(chromedp.CSS("#switch-webmail")), chromedp.WaitVisible(chromedp.CSS("#switch-webmail.on")))
	webtest.Shot(t, ctx, "admin-domain")
	if d, err := st.GetDomain("shop.test"); err != nil || !d.SMTP || !d.Webmail {
		t.Fatalf("domain after the clicks: %+v %v", d, err)
	}
	const userPW = "Anna-Secret-Pass-77"
	webtest.Do(t, ctx, "add user",
		chromedp.Navigate(base+"/admin/domains/shop.test/users"),
		chromedp.SendKeys(chromedp.CSS("#new-local"), "anna"),
		chromedp.SendKeys(chromedp.CSS("#new-user-pw"), userPW),
		chromedp.SendKeys(chromedp.CSS("#new-user-pw2"), userPW),
		chromedp.Click(chromedp.CSS("#add-user-btn")),
		chromedp.WaitVisible(chromedp.CSS("#users")))
	if !strings.Contains(webtest.Text(t, ctx, "#users"), "anna@shop.test") {
		t.Fatal("user not listed after adding")
	}
	webtest.Shot(t, ctx, "admin-users")

	// 2. swaks sends as that user; the message shows in the user's webmail.
	sub := ts.addr(t, "submission")
	out, err := exec.Command(swaks, "--server", sub, "--tls",
		"--auth", "PLAIN", "--auth-user", "anna@shop.test", "--auth-password", userPW,
		"--from", "anna@shop.test", "--to", "anna@shop.test",
		"--header", "Subject: Hello from swaks", "--body", "Sent by swaks through Authenticated SMTP.").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	webtest.SignIn(t, ctx, base, "mail", "anna@shop.test", userPW, "#messages")
	if l := webtest.Text(t, ctx, "#messages"); !strings.Contains(l, "Hello from swaks") {
		t.Fatalf("webmail list lacks the swaks message: %q", l)
	}
	// New mail appears without a reload (server-sent events).
	_, err = st.Append("anna@shop.test", "INBOX", []byte("From: bob@remote.test\r\nSubject: live one\r\n\r\nhi\r\n"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	webtest.Do(t, ctx, "live new-mail banner", chromedp.WaitVisible(chromedp.CSS("#new-mail")))
	webtest.Shot(t, ctx, "webmail-list")
	webtest.Do(t, ctx, "open the swaks message",
		chromedp.Navigate(base+"/mail/folder?name=INBOX"),
		chromedp.Click(chromedp.Search(`//a[contains(., "Hello from swaks")]`)),
		chromedp.WaitVisible(chromedp.CSS("#textbody")))
	if b := webtest.Text(t, ctx, "#textbody"); !strings.Contains(b, "Sent by swaks") {
		t.Fatalf("message body %q", b)
	}
	webtest.Shot(t, ctx, "webmail-read")

	// 3. An HTML mail with script, onerror and remote images: nothing runs
	// and nothing is fetched until the user asks for images.
	var imgHits, jsHits atomic.Int32
	tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/img") {
			imgHits.Add(1)
		} else {
			jsHits.Add(1)
		}
		w.Header().Set("Content-Type", "image/gif")
		w.Write([]byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
	}))
	defer tracker.Close()
	tr := tracker.URL
	html := fmt.Sprintf("From: Mallory <m@evil.test>\r\nTo: anna@shop.test\r\nSubject: Your invoice\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>@import url(%[1]s/js-import);</style></head><body>"+
		"<h2>Invoice</h2><p>Please pay.</p><script>alert('script ran'); fetch('%[1]s/js-fetch')</script>"+
		"<img src=\"%[1]s/img.gif\" alt=\"remote\"><img src=\"x\" onerror=\"alert('onerror ran'); new Image().src='%[1]s/js-onerror'\">"+
		"<svg onload=\"alert('svg ran')\"></svg><a href=\"javascript:alert('link')\">pay here</a>"+
		"<div style=\"background:url(%[1]s/js-css)\">styled</div></body></html>\r\n", tr)
	m, err := st.Append("anna@shop.test", "INBOX", []byte(html), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Navigate waits for the top page's load event, which waits for the
	// iframe and everything it loads (or is refused).
	webtest.Do(t, ctx, "open the HTML mail",
		chromedp.Navigate(fmt.Sprintf("%s/mail/msg?folder=INBOX&uid=%d", base, m.UID)),
		chromedp.WaitVisible(chromedp.CSS("#mailbody")),
		chromedp.WaitVisible(chromedp.CSS("#remote-blocked")))
	webtest.Shot(t, ctx, "webmail-html-blocked")
	if n := imgHits.Load() + jsHits.Load(); n != 0 {
		t.Fatalf("the HTML mail made %d request(s) before images were allowed", n)
	}
	webtest.Do(t, ctx, "show images",
		chromedp.Click(chromedp.CSS("#show-images")),
		chromedp.WaitVisible(chromedp.CSS("#mailbody")))
	// Positive control: the remote image now loads, so this test can see a
	// request when one happens.
	deadline := time.Now().Add(20 * time.Second)
	for imgHits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if imgHits.Load() == 0 {
		t.Fatal("with images allowed, the remote image was not loaded (is the test blind?)")
	}
	if n := jsHits.Load(); n != 0 {
		t.Fatalf("script, onerror or CSS made %d request(s)", n)
	}
	webtest.Shot(t, ctx, "webmail-html-images")

	// 4. The domain login composes from anything@domain, and is refused
	// for another domain.
	webtest.Do(t, ctx, "sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#login")))
	webtest.SignIn(t, ctx, base, "mail", "shop.test", domPW, "#compose")
	compose := func(from, subject string) string {
		webtest.Do(t, ctx, "compose from "+from,
			chromedp.Navigate(base+"/mail/compose"),
			chromedp.WaitVisible(chromedp.CSS("#from")),
			chromedp.SetValue(chromedp.CSS("#from"), from),
			chromedp.SendKeys(chromedp.CSS("#to"), "anna@shop.test"),
			chromedp.SendKeys(chromedp.CSS("#subject"), subject),
			chromedp.SendKeys(chromedp.CSS("#body"), "Order 1234 has shipped."),
			chromedp.Click(chromedp.CSS("#send")),
			chromedp.WaitVisible(chromedp.CSS("#flash")))
		return webtest.Text(t, ctx, "#flash")
	}
	if f := compose("orders@shop.test", "Your order shipped"); !strings.Contains(f, "Sent to 1 recipient") {
		t.Fatalf("send as orders@shop.test: %q", f)
	}
	webtest.Shot(t, ctx, "webmail-compose-sent")
	if f := compose("ceo@other.test", "Spoof"); !strings.Contains(f, "may not send as ceo@other.test") {
		t.Fatalf("send as another domain: %q", f)
	}
	webtest.Shot(t, ctx, "webmail-compose-refused")
	msgs, err := st.ListMessages("anna@shop.test", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, m := range msgs {
		b, _ := st.Body(m.BodyID)
		subjects = append(subjects, string(b))
	}
	all := strings.Join(subjects, "\n")
	if !strings.Contains(all, "Your order shipped") || strings.Contains(all, "Spoof") {
		t.Fatal("the domain login's sends did not arrive as expected")
	}

	// 5. A phone-sized screen.
	webtest.Do(t, ctx, "phone view", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(base+"/mail/compose"),
		chromedp.WaitVisible(chromedp.CSS("#compose")))
	webtest.Shot(t, ctx, "phone-compose")
	webtest.SignIn(t, ctx, base, "admin", "admin", adminPW, "#n-domains")
	webtest.Shot(t, ctx, "phone-admin-dashboard")
	webtest.Do(t, ctx, "desktop view", chromedp.EmulateViewport(1280, 900))
	webtest.Do(t, ctx, "dashboard", chromedp.Navigate(base+"/admin"), chromedp.WaitVisible(chromedp.CSS("#n-domains")))
	webtest.Shot(t, ctx, "admin-dashboard")
	webtest.Do(t, ctx, "security", chromedp.Navigate(base+"/admin/security"), chromedp.WaitVisible(chromedp.CSS("#blocked")))
	webtest.Shot(t, ctx, "admin-security")
	webtest.Do(t, ctx, "dns", chromedp.Navigate(base+"/admin/domains/shop.test/dns"), chromedp.WaitVisible(chromedp.CSS(".dns")))
	webtest.Shot(t, ctx, "admin-dns")
	// Outbound mail (captured: the test server runs like --demo) shows in the queue.
	out, err = exec.Command(swaks, "--server", sub, "--tls", "--auth", "PLAIN", "--auth-user", "anna@shop.test", "--auth-password", userPW,
		"--from", "anna@shop.test", "--to", "bob@remote.test", "--header", "Subject: Quarterly report").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks to a remote address: %v\n%s", err, out)
	}
	webtest.Do(t, ctx, "queue", chromedp.Navigate(base+"/admin/queue"), chromedp.WaitVisible(chromedp.CSS("#queue")))
	if q := webtest.Text(t, ctx, "#queue"); !strings.Contains(q, "bob@remote.test") || !strings.Contains(q, "Quarterly report") {
		t.Fatalf("queue page: %q", q)
	}
	webtest.Shot(t, ctx, "admin-queue")
	webtest.Do(t, ctx, "queue entry", chromedp.Click(chromedp.CSS("#queue a")), chromedp.WaitVisible(chromedp.CSS(".timeline")))
	webtest.Shot(t, ctx, "admin-queue-entry")
}
