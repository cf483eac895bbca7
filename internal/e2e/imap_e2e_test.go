package e2e

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestIMAPEndToEnd runs the real binary: a message submitted over SMTP
// wakes an IMAP IDLE within a second; `authsmtp user quota` (through the
// control socket) makes SMTP answer 552 5.2.2 and APPEND NO [OVERQUOTA];
// a restart keeps UIDVALIDITY and UIDs.
func TestIMAPEndToEnd(t *testing.T) {
	bin := authsmtpBinary(t)
	dir := t.TempDir()
	const user, pw = "ida@e2e.test", "Ida-pass-k9W!q"
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"domain", "add", "e2e.test"}},
		{"Dom-pass-x7Q!z\n", []string{"domain", "password", "e2e.test"}},
		{"", []string{"domain", "enable", "e2e.test", "smtp"}},
		{pw + "\n", []string{"user", "add", user}},
	} {
		if code, _, errOut := cli(t, dir, c.stdin, c.args...); code != 0 {
			t.Fatalf("%v: %s", c.args, errOut)
		}
	}
	p := startServe(t, bin, dir, "--imaps", "127.0.0.1:0", "--imap", "127.0.0.1:0")

	exists := make(chan uint32, 10)
	c, err := imapclient.DialTLS(p.addr("imaps"), &imapclient.Options{
		TLSConfig: &tls.Config{InsecureSkipVerify: true},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pw).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: " + user + "\r\nTo: " + user + "\r\nSubject: over smtp\r\n\r\nhello idle\r\n"
	if err := submit(p.addr("submission"), user, pw, user, []string{user}, msg); err != nil {
		t.Fatalf("submit: %v", err)
	}
	sent := time.Now()
	select {
	case n := <-exists:
		if n != 1 {
			t.Fatalf("EXISTS %d", n)
		}
		if d := time.Since(sent); d > time.Second {
			t.Fatalf("IDLE woke %s after the 250", d)
		}
	case <-time.After(time.Second):
		t.Fatal("IDLE did not report the SMTP delivery within a second")
	}
	idle.Close()
	idle.Wait()

	// Quota through the running server's control socket.
	if code, out, errOut := cli(t, dir, "", "user", "quota", user, "1K"); code != 0 || !strings.Contains(out, "1K") {
		t.Fatalf("user quota: %d %q %q", code, out, errOut)
	}
	big := msg + strings.Repeat("x", 2000) + "\r\n"
	if err := submit(p.addr("submission"), user, pw, user, []string{user}, big); err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("SMTP over quota: %v", err)
	}
	cmd := c.Append("INBOX", int64(len(big)), nil)
	cmd.Write([]byte(big))
	cmd.Close()
	if _, err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "OVERQUOTA") {
		t.Fatalf("APPEND over quota: %v", err)
	}
	c.Logout().Wait()

	// Restart: UIDVALIDITY and UIDs stay.
	p.stop(t)
	p2 := startServe(t, bin, dir, "--imaps", "127.0.0.1:0")
	c2, err := imapclient.DialTLS(p2.addr("imaps"), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login(user, pw).Wait(); err != nil {
		t.Fatal(err)
	}
	sel2, err := c2.Select("INBOX", nil).Wait()
	if err != nil || sel2.UIDValidity != sel.UIDValidity || sel2.NumMessages != 1 || sel2.UIDNext != 2 {
		t.Fatalf("after restart %+v %v (before: validity %d)", sel2, err, sel.UIDValidity)
	}
	msgs, err := c2.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 1 || msgs[0].Envelope.Subject != "over smtp" {
		t.Fatalf("message after restart: %+v %v", msgs, err)
	}
}
