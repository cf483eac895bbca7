package e2e

import (
	"crypto/tls"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/webtest"
)

// submitAcked sends one message through addr (STARTTLS, AUTH PLAIN) and
// returns the moment the 250 to the DATA arrived.
func submitAcked(addr, login, pw, to, msg string) (time.Time, error) {
	c, err := gosmtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return time.Time{}, err
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", login, pw)); err != nil {
		return time.Time{}, err
	}
	if err := c.Mail(login, nil); err != nil {
		return time.Time{}, err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return time.Time{}, err
	}
	w, err := c.Data()
	if err != nil {
		return time.Time{}, err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return time.Time{}, err
	}
	if err := w.Close(); err != nil {
		return time.Time{}, err
	}
	acked := time.Now()
	c.Quit()
	return acked, nil
}

// TestClusterThreeNodesSubmitIdleWebmail: three nodes on one database.
// A message submitted on node 1 wakes an IMAP IDLE on node 2 within a
// second of its 250, and the webmail of node 3, open in headless
// Chromium, announces it live and lists it.
func TestClusterThreeNodesSubmitIdleWebmail(t *testing.T) {
	c := newPGCluster(t, 3, nil, "--https", "127.0.0.1:0")
	if code, _, errOut := c.admin(2, "", "domain", "enable", clDomain, "webmail"); code != 0 {
		t.Fatalf("domain enable webmail on node 3: %s", errOut)
	}

	// Node 3: webmail signed in, the INBOX list open with its live stream.
	ctx := webtest.Browser(t)
	base := "https://" + c.nodes[2].addr("https")
	webtest.SignIn(t, ctx, base, "mail", clUser, clPW, "#folders") // an empty INBOX has no #messages

	// Node 2: IMAP IDLE on the INBOX.
	exists := make(chan time.Time, 10)
	ic := imapLogin(t, c.nodes[1].addr("imap"), &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
		if d.NumMessages != nil && *d.NumMessages >= 1 {
			exists <- time.Now()
		}
	}})
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := ic.Idle()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { idle.Close(); idle.Wait() }()

	// Node 1: submission.
	const subject = "Across three nodes"
	acked, err := submitAcked(c.nodes[0].addr("submission"), clUser, clPW, clUser, clMsg(subject))
	if err != nil {
		t.Fatalf("submit on node 1: %v", err)
	}
	bound := testutil.Scaled(time.Second)
	select {
	case woke := <-exists:
		d := woke.Sub(acked)
		t.Logf("IDLE on node 2 saw the message %v after the 250 on node 1 (bound %v)", d, bound)
		if d > bound {
			t.Errorf("IDLE on node 2 woke %v after the 250 on node 1, want under %v", d, bound)
		}
	case <-time.After(bound):
		t.Fatalf("IDLE on node 2 did not see the message within %v of the 250 on node 1", bound)
	}

	// Node 3's webmail hears of it without a reload, then lists it.
	start := time.Now()
	webtest.Do(t, ctx, "live new-mail banner on node 3", chromedp.WaitVisible(chromedp.CSS("#new-mail")))
	t.Logf("webmail on node 3 announced the message %v after the 250 on node 1 (banner seen %v after IDLE)", time.Since(acked), time.Since(start))
	webtest.Do(t, ctx, "reload the INBOX on node 3",
		chromedp.Navigate(base+"/mail/folder?name=INBOX"), chromedp.WaitVisible(chromedp.CSS("#messages")))
	if l := webtest.Text(t, ctx, "#messages"); !strings.Contains(l, subject) {
		webtest.Shot(t, ctx, "cluster-webmail-missing")
		t.Fatalf("webmail on node 3 lists %q, want the subject %q", l, subject)
	}
}
