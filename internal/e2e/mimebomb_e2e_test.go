package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/internal/testutil"
)

// TestMIMEBombThroughMX: an unauthenticated stranger sends a message made
// only of message/rfc822 parts nested 8,000 deep (250 KiB) to the MX of
// the real binary, which runs with its address space limited to what it
// had at start plus 512 MiB. IMAP FETCH ENVELOPE/BODYSTRUCTURE/BODY[]
// (go-imap and imaplib) and the webmail page of the message answer, the
// process lives, and after a restart the message is fetched again. The
// old parse needed about 1.1 GiB for this message, at every FETCH.
func TestMIMEBombThroughMX(t *testing.T) {
	prlimit := testutil.NeedTool(t, "prlimit")
	python := testutil.NeedTool(t, "python3")
	bin := authsmtpBinary(t)
	dir := t.TempDir()
	const user, pw = "vic@bomb-e2e.test", "victim-password-1"
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"domain", "add", "bomb-e2e.test"}},
		{"", []string{"domain", "enable", "bomb-e2e.test", "webmail"}},
		{pw + "\n", []string{"user", "add", user}},
	} {
		if code, _, errOut := cli(t, dir, c.stdin, c.args...); code != 0 {
			t.Fatalf("%v: %s", c.args, errOut)
		}
	}
	dns := mailtest.StartDNS(t) // no records: SPF, DKIM and DMARC say none
	args := []string{"--mx", "127.0.0.1:0", "--imaps", "127.0.0.1:0", "--https", "127.0.0.1:0", "--dns", dns.Addr}
	p := startServe(t, bin, dir, args...)
	limitAS(t, prlimit, p, 512<<20)

	bomb := mailtest.RFC822Bomb(user, 8000)
	if err := sendMX(p.addr("mx"), "bomber@bomb.test", user, bomb); err != nil {
		t.Fatalf("MX refused the message: %v\n%s", err, p.logs())
	}
	fetchBomb(t, p, user, pw, bomb)
	fetchBombPython(t, python, p, user, pw, len(bomb))
	webmailPage(t, p, user, pw)
	t.Logf("peak RSS after MX, IMAP and webmail: %d KiB", vmHWM(t, p))

	// A restart does not bring the parse back: the message is fetched
	// again (from the cached parse) and the server stays up.
	p.stop(t)
	p2 := startServe(t, bin, dir, args...)
	limitAS(t, prlimit, p2, 512<<20)
	fetchBomb(t, p2, user, pw, bomb)
	fetchBombPython(t, python, p2, user, pw, len(bomb))
	t.Logf("peak RSS after the restart's fetches: %d KiB", vmHWM(t, p2))
}

// limitAS caps the running server's address space at its current size
// plus extra bytes (prlimit --as on the live process).
func limitAS(t *testing.T, prlimit string, p *proc, extra int64) {
	t.Helper()
	size := procStatus(t, p, "VmSize") << 10
	limit := strconv.FormatInt(size+extra, 10)
	if out, err := exec.Command(prlimit, "--pid", strconv.Itoa(p.cmd.Process.Pid), "--as="+limit+":"+limit).CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %v %s", err, out)
	}
}

// procStatus reads a "kB" line of /proc/PID/status.
func procStatus(t *testing.T, p *proc, key string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("server process gone: %v\n%s", err, p.logs())
	}
	m := regexp.MustCompile(`(?m)^` + key + `:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /proc status", key)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

func vmHWM(t *testing.T, p *proc) int64 { return procStatus(t, p, "VmHWM") }

// sendMX delivers msg as a stranger would: plain SMTP to port 25, no
// AUTH, announcing its SIZE as MTAs do.
func sendMX(addr, from, to string, msg []byte) error {
	c, err := gosmtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("stranger.test"); err != nil {
		return err
	}
	if err := c.Mail(from, &gosmtp.MailOptions{Size: int64(len(msg))}); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// fetchBomb fetches what a mail client fetches for new mail, then the
// whole message, with go-imap's client.
func fetchBomb(t *testing.T, p *proc, user, pw string, bomb []byte) {
	t.Helper()
	c, err := imapclient.DialTLS(p.addr("imaps"), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pw).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{
		UID: true, Envelope: true, BodyStructure: &goimap.FetchItemBodyStructure{Extended: true},
		BodySection: []*goimap.FetchItemBodySection{{Peek: true}, {Peek: true, Part: []int{1}, Specifier: goimap.PartSpecifierHeader}},
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v (%d answers)\n%s", err, len(msgs), p.logs())
	}
	m := msgs[0]
	if m.Envelope == nil || m.Envelope.Subject != "rfc822 bomb" || m.BodyStructure.MediaType() != "message/rfc822" {
		t.Fatalf("envelope %+v, structure %v", m.Envelope, m.BodyStructure)
	}
	body := string(m.FindBodySection(&goimap.FetchItemBodySection{}))
	if !strings.HasSuffix(body, string(bomb)) || !strings.HasPrefix(body, "Return-Path:") {
		t.Fatalf("BODY[] is not the delivered message (%d bytes)", len(body))
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("connection after FETCH: %v", err)
	}
}

const pythonBombFetch = `
import imaplib, ssl, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = imaplib.IMAP4_SSL(host, port, ssl_context=ssl._create_unverified_context())
c.login(user, pw)
typ, data = c.select('INBOX'); assert typ == 'OK' and data[0] == b'1', data
typ, data = c.fetch('1', '(ENVELOPE BODYSTRUCTURE BODY.PEEK[])')
assert typ == 'OK', data
assert b'"rfc822 bomb"' in data[0][0] and b'BODYSTRUCTURE ("message" "rfc822"' in data[0][0], data[0][0][:300]
print("OK", len(data[0][1]))
c.logout()
`

func fetchBombPython(t *testing.T, python string, p *proc, user, pw string, size int) {
	t.Helper()
	script := filepath.Join(t.TempDir(), "fetch.py")
	if err := os.WriteFile(script, []byte(pythonBombFetch), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(p.addr("imaps"), ":")
	out, err := exec.Command(python, script, host, port, user, pw).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK ") {
		t.Fatalf("imaplib: %v\n%s\n%s", err, out, p.logs())
	}
	n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "OK")))
	if n < size {
		t.Fatalf("imaplib got %d bytes, the message has %d", n, size)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// webmailPage logs in to webmail over HTTPS and opens the message page.
func webmailPage(t *testing.T, p *proc, user, pw string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	base := "https://" + p.addr("https")
	get := func(path string) (int, string) {
		resp, err := hc.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, p.logs())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, form := get("/mail/login")
	m := csrfField.FindStringSubmatch(form)
	if m == nil {
		t.Fatalf("no csrf field on the login page")
	}
	resp, err := hc.PostForm(base+"/mail/login", url.Values{"login": {user}, "password": {pw}, "csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, page := get("/mail/msg?folder=INBOX&uid=1"); code != 200 || !strings.Contains(page, "rfc822 bomb") {
		t.Fatalf("message page: %d\n%.500s", code, page)
	}
	if code, _ := get("/mail/folder?name=INBOX"); code != 200 {
		t.Fatalf("folder page: %d", code)
	}
}
