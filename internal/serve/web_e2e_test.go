package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/authsmtp/authsmtp/internal/testutil"
)

// The browser tests drive Debian's chromium headless through chromedp
// against an in-process server (all listeners on 127.0.0.1:0), and save
// screenshots to test-artifacts/ for a person to look at.

// browser starts a fresh headless chromium (own profile) and returns a
// tab context. Dialogs (alert) fail the test: mail must never run script.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := testutil.NeedTool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("ignore-certificate-errors", true), // the test server's certificate is self-signed
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			t.Errorf("a script opened a dialog: %q", ev.Message)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return ctx
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		shot(t, ctx, "failed-"+strings.ReplaceAll(what, " ", "-"))
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

func value(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

// shot saves a PNG of the whole page to test-artifacts/NAME.png.
func shot(t *testing.T, ctx context.Context, name string) {
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	os.MkdirAll("test-artifacts", 0o755)
	if err := os.WriteFile(filepath.Join("test-artifacts", name+".png"), buf, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

// signIn fills a login form and waits for the page after it.
func signIn(t *testing.T, ctx context.Context, base, area, login, pw, waitFor string) {
	t.Helper()
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/" + area + "/login"), chromedp.WaitVisible(chromedp.CSS("#password"))}
	if area == "mail" {
		steps = append(steps, chromedp.SendKeys(chromedp.CSS("#login"), login))
	}
	steps = append(steps, chromedp.SendKeys(chromedp.CSS("#password"), pw), chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(waitFor)))
	do(t, ctx, "sign in to "+area+" as "+login, steps...)
}

func TestWebBrowserEndToEnd(t *testing.T) {
	swaks := testutil.NeedTool(t, "swaks")
	ctx := browser(t)
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
	do(t, ctx, "webmail login page", chromedp.Navigate(base+"/mail/login"), chromedp.WaitVisible(chromedp.CSS("#login")))
	shot(t, ctx, "webmail-login")
	signIn(t, ctx, base, "admin", "admin", adminPW, "#n-domains")
	shot(t, ctx, "admin-dashboard-empty")
	do(t, ctx, "add domain",
		chromedp.Navigate(base+"/admin/domains"),
		chromedp.SendKeys(chromedp.CSS("#new-domain"), "www.Shop.Test"),
		chromedp.Click(chromedp.CSS("#add-domain button")),
		chromedp.WaitVisible(chromedp.CSS("#smtp-username")))
	if u := text(t, ctx, "#smtp-username"); u != "shop.test" {
		t.Fatalf("Authenticated SMTP username %q, want shop.test", u)
	}
	do(t, ctx, "generate domain password", chromedp.Click(chromedp.CSS(`button[data-gen="domain-pw"]`)))
	domPW := value(t, ctx, "#domain-pw")
	if len(domPW) < 16 || value(t, ctx, "#domain-pw2") != domPW {
		t.Fatalf("generated password %q not filled in both fields", domPW)
	}
	shot(t, ctx, "admin-domain-generated-password")
	do(t, ctx, "set domain password",
		chromedp.Click(chromedp.CSS("#set-domain-pw")),
		// The page before had a flash too: wait for the new state itself.
		chromedp.WaitVisible(chromedp.CSS("#pw-state.on")))
	if s := text(t, ctx, "#pw-state"); s != "set" {
		t.Fatalf("password state %q after setting %q: %s", s, domPW, text(t, ctx, "#flash"))
	}
	do(t, ctx, "turn on smtp", chromedp.Click(chromedp.CSS("#switch-smtp")), chromedp.WaitVisible(chromedp.CSS("#switch-smtp.on")))
	do(t, ctx, "turn on webmail", chromedp.Click(chromedp.CSS("#switch-webmail")), chromedp.WaitVisible(chromedp.CSS("#switch-webmail.on")))
	shot(t, ctx, "admin-domain")
	if d, err := st.GetDomain("shop.test"); err != nil || !d.SMTP || !d.Webmail {
		t.Fatalf("domain after the clicks: %+v %v", d, err)
	}
	const userPW = "Anna-Secret-Pass-77"
	do(t, ctx, "add user",
		chromedp.Navigate(base+"/admin/domains/shop.test/users"),
		chromedp.SendKeys(chromedp.CSS("#new-local"), "anna"),
		chromedp.SendKeys(chromedp.CSS("#new-user-pw"), userPW),
		chromedp.SendKeys(chromedp.CSS("#new-user-pw2"), userPW),
		chromedp.Click(chromedp.CSS("#add-user-btn")),
		chromedp.WaitVisible(chromedp.CSS("#users")))
	if !strings.Contains(text(t, ctx, "#users"), "anna@shop.test") {
		t.Fatal("user not listed after adding")
	}
	shot(t, ctx, "admin-users")

	// 2. swaks sends as that user; the message shows in the user's webmail.
	sub := ts.addr(t, "submission")
	out, err := exec.Command(swaks, "--server", sub, "--tls",
		"--auth", "PLAIN", "--auth-user", "anna@shop.test", "--auth-password", userPW,
		"--from", "anna@shop.test", "--to", "anna@shop.test",
		"--header", "Subject: Hello from swaks", "--body", "Sent by swaks through Authenticated SMTP.").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	signIn(t, ctx, base, "mail", "anna@shop.test", userPW, "#messages")
	if l := text(t, ctx, "#messages"); !strings.Contains(l, "Hello from swaks") {
		t.Fatalf("webmail list lacks the swaks message: %q", l)
	}
	// New mail appears without a reload (server-sent events).
	_, err = st.Append("anna@shop.test", "INBOX", []byte("From: bob@remote.test\r\nSubject: live one\r\n\r\nhi\r\n"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "live new-mail banner", chromedp.WaitVisible(chromedp.CSS("#new-mail")))
	shot(t, ctx, "webmail-list")
	do(t, ctx, "open the swaks message",
		chromedp.Navigate(base+"/mail/folder?name=INBOX"),
		chromedp.Click(chromedp.Search(`//a[contains(., "Hello from swaks")]`)),
		chromedp.WaitVisible(chromedp.CSS("#textbody")))
	if b := text(t, ctx, "#textbody"); !strings.Contains(b, "Sent by swaks") {
		t.Fatalf("message body %q", b)
	}
	shot(t, ctx, "webmail-read")

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
	do(t, ctx, "open the HTML mail",
		chromedp.Navigate(fmt.Sprintf("%s/mail/msg?folder=INBOX&uid=%d", base, m.UID)),
		chromedp.WaitVisible(chromedp.CSS("#mailbody")),
		chromedp.WaitVisible(chromedp.CSS("#remote-blocked")))
	shot(t, ctx, "webmail-html-blocked")
	if n := imgHits.Load() + jsHits.Load(); n != 0 {
		t.Fatalf("the HTML mail made %d request(s) before images were allowed", n)
	}
	do(t, ctx, "show images",
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
	shot(t, ctx, "webmail-html-images")

	// 4. The domain login composes from anything@domain, and is refused
	// for another domain.
	do(t, ctx, "sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#login")))
	signIn(t, ctx, base, "mail", "shop.test", domPW, "#compose")
	compose := func(from, subject string) string {
		do(t, ctx, "compose from "+from,
			chromedp.Navigate(base+"/mail/compose"),
			chromedp.WaitVisible(chromedp.CSS("#from")),
			chromedp.SetValue(chromedp.CSS("#from"), from),
			chromedp.SendKeys(chromedp.CSS("#to"), "anna@shop.test"),
			chromedp.SendKeys(chromedp.CSS("#subject"), subject),
			chromedp.SendKeys(chromedp.CSS("#body"), "Order 1234 has shipped."),
			chromedp.Click(chromedp.CSS("#send")),
			chromedp.WaitVisible(chromedp.CSS("#flash")))
		return text(t, ctx, "#flash")
	}
	if f := compose("orders@shop.test", "Your order shipped"); !strings.Contains(f, "Sent to 1 recipient") {
		t.Fatalf("send as orders@shop.test: %q", f)
	}
	shot(t, ctx, "webmail-compose-sent")
	if f := compose("ceo@other.test", "Spoof"); !strings.Contains(f, "may not send as ceo@other.test") {
		t.Fatalf("send as another domain: %q", f)
	}
	shot(t, ctx, "webmail-compose-refused")
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
	do(t, ctx, "phone view", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(base+"/mail/compose"),
		chromedp.WaitVisible(chromedp.CSS("#compose")))
	shot(t, ctx, "phone-compose")
	signIn(t, ctx, base, "admin", "admin", adminPW, "#n-domains")
	shot(t, ctx, "phone-admin-dashboard")
	do(t, ctx, "desktop view", chromedp.EmulateViewport(1280, 900))
	do(t, ctx, "dashboard", chromedp.Navigate(base+"/admin"), chromedp.WaitVisible(chromedp.CSS("#n-domains")))
	shot(t, ctx, "admin-dashboard")
	do(t, ctx, "security", chromedp.Navigate(base+"/admin/security"), chromedp.WaitVisible(chromedp.CSS("#blocked")))
	shot(t, ctx, "admin-security")
	do(t, ctx, "dns", chromedp.Navigate(base+"/admin/domains/shop.test/dns"), chromedp.WaitVisible(chromedp.CSS(".dns")))
	shot(t, ctx, "admin-dns")
	// Outbound mail (captured: the test server runs like --demo) shows in the queue.
	out, err = exec.Command(swaks, "--server", sub, "--tls", "--auth", "PLAIN", "--auth-user", "anna@shop.test", "--auth-password", userPW,
		"--from", "anna@shop.test", "--to", "bob@remote.test", "--header", "Subject: Quarterly report").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks to a remote address: %v\n%s", err, out)
	}
	do(t, ctx, "queue", chromedp.Navigate(base+"/admin/queue"), chromedp.WaitVisible(chromedp.CSS("#queue")))
	if q := text(t, ctx, "#queue"); !strings.Contains(q, "bob@remote.test") || !strings.Contains(q, "Quarterly report") {
		t.Fatalf("queue page: %q", q)
	}
	shot(t, ctx, "admin-queue")
	do(t, ctx, "queue entry", chromedp.Click(chromedp.CSS("#queue a")), chromedp.WaitVisible(chromedp.CSS(".timeline")))
	shot(t, ctx, "admin-queue-entry")
}
