package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/store"
)

// End-to-end mail flow with real `authsmtp serve` processes on loopback
// and a test DNS server answering every lookup they make.

// instance is one authsmtp data directory and, when started, its process.
type instance struct {
	t       *testing.T
	data    string
	env     []string
	args    []string
	cmd     *exec.Cmd
	log     *bytes.Buffer
	mu      sync.Mutex
	subAddr string
}

func newInstance(t *testing.T, env ...string) *instance {
	return &instance{t: t, data: t.TempDir(), env: env}
}

// cli runs an admin command on the instance (through its socket if it runs).
func (in *instance) cli(stdin string, args ...string) string {
	in.t.Helper()
	cmd := exec.Command(authsmtpBinary(in.t), args...)
	cmd.Env = append(os.Environ(), append(in.env, "AUTHSMTP_DATA="+in.data)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		in.t.Fatalf("authsmtp %v: %v\n%s", args, err, out)
	}
	return string(out)
}

type lockedBuf struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// start runs `authsmtp serve` and waits until it logs that it runs.
func (in *instance) start(args ...string) {
	in.t.Helper()
	in.args = args
	in.log = &bytes.Buffer{}
	cmd := exec.Command(authsmtpBinary(in.t), append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), append(in.env, "AUTHSMTP_DATA="+in.data)...)
	w := lockedBuf{&in.mu, in.log}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.cmd = cmd
	in.t.Cleanup(func() { in.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(in.logs(), "authsmtp is running") {
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			in.t.Fatalf("server did not start:\n%s", in.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (in *instance) logs() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.log.String()
}

func (in *instance) kill() {
	if in.cmd != nil && in.cmd.Process != nil {
		in.cmd.Process.Signal(syscall.SIGKILL)
		in.cmd.Wait()
		in.cmd = nil
	}
}

func (in *instance) stop() {
	in.t.Helper()
	if in.cmd == nil {
		return
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { in.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		in.kill()
		in.t.Fatalf("server did not stop on SIGTERM:\n%s", in.logs())
	}
	in.cmd = nil
}

// openStore opens the stopped instance's database.
func (in *instance) openStore() *store.Store {
	in.t.Helper()
	st, err := store.Open(in.data, store.Options{})
	if err != nil {
		in.t.Fatal(err)
	}
	in.t.Cleanup(func() { st.Close() })
	return st
}

// publishDKIM copies the DKIM TXT records `authsmtp domain dns` prints
// into the test DNS.
func publishDKIM(t *testing.T, d *mailtest.DNS, zone string) {
	t.Helper()
	quoted := regexp.MustCompile(`"([^"]*)"`)
	n := 0
	for _, line := range strings.Split(zone, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.Contains(f[0], "._domainkey.") {
			continue
		}
		var v strings.Builder
		for _, m := range quoted.FindAllStringSubmatch(line, -1) {
			v.WriteString(m[1])
		}
		d.AddTXT(strings.TrimSuffix(f[0], "."), v.String())
		n++
	}
	if n == 0 {
		t.Fatalf("no DKIM records in:\n%s", zone)
	}
}

// freePort finds a port free on both loopback addresses.
func freePort(t *testing.T, ips ...string) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Skipf("cannot listen on %s: %v", ips[0], err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ok := true
		for _, ip := range ips[1:] {
			l2, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			l2.Close()
		}
		ln.Close()
		if ok {
			return p
		}
	}
	t.Fatal("no common free port")
	return 0
}

func TestTwoInstancesDKIMSPFDMARCPass(t *testing.T) {
	d := mailtest.StartDNS(t)
	port := freePort(t, "127.0.0.2", "127.0.0.3")
	d.Add(t, "a.test. 60 IN MX 10 mx.a.test.", "mx.a.test. 60 IN A 127.0.0.2",
		"b.test. 60 IN MX 10 mx.b.test.", "mx.b.test. 60 IN A 127.0.0.3")
	// Outbound connections on loopback leave from 127.0.0.1.
	d.AddTXT("a.test", "v=spf1 ip4:127.0.0.1 mx -all")
	d.AddTXT("b.test", "v=spf1 ip4:127.0.0.1 mx -all")
	d.AddTXT("_dmarc.a.test", "v=DMARC1; p=reject")
	d.AddTXT("_dmarc.b.test", "v=DMARC1; p=reject")

	env := []string{"AUTHSMTP_TEST_DELIVERY_PORT=" + strconv.Itoa(port), "AUTHSMTP_DNS=" + d.Addr}
	a, b := newInstance(t, env...), newInstance(t, env...)
	a.cli("", "domain", "add", "a.test")
	a.cli("", "domain", "enable", "a.test", "smtp")
	a.cli("alice-password-1\n", "user", "add", "alice@a.test")
	b.cli("", "domain", "add", "b.test")
	b.cli("bob-password-1\n", "user", "add", "bob@b.test")
	publishDKIM(t, d, a.cli("", "domain", "dns", "a.test"))
	publishDKIM(t, d, b.cli("", "domain", "dns", "b.test"))

	subPort := freePort(t, "127.0.0.1")
	common := []string{"--tls", "self-signed", "--submissions", "", "--imap", "", "--imaps", "", "--https", "", "--http", "",
		"--retry-schedule", "200ms", "--log-level", "debug"}
	a.start(append(common, "--hostname", "mx.a.test", "--mx", fmt.Sprintf("127.0.0.2:%d", port),
		"--submission", fmt.Sprintf("127.0.0.1:%d", subPort))...)
	b.start(append(common, "--hostname", "mx.b.test", "--mx", fmt.Sprintf("127.0.0.3:%d", port), "--submission", "")...)

	msg := "From: Alice <alice@a.test>\r\nTo: Bob <bob@b.test>\r\nSubject: across\r\n\r\nHi Bob, from A.\r\n"
	if err := submit(fmt.Sprintf("127.0.0.1:%d", subPort), "alice@a.test", "alice-password-1", "alice@a.test", []string{"bob@b.test"}, msg); err != nil {
		t.Fatalf("submitting on A: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(a.logs(), "status=sent") {
		if time.Now().After(deadline) {
			t.Fatalf("A did not deliver:\nA:\n%s\nB:\n%s", a.logs(), b.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if q := a.cli("", "queue", "list"); strings.Count(q, "\n") != 1 {
		t.Errorf("A's queue after delivery:\n%s", q)
	}
	// Relay attempts from outside on B's MX: every form refused, nothing queued.
	relayForms := []string{"user@a.test", "user%a.test@b.test", "@b.test:user@a.test", `"user@a.test"@b.test`,
		"USER@A.TEST", "bob@b.test.", "user@a.test@b.test", "user@[127.0.0.2]"}
	for _, sender := range []string{"bob@b.test", ""} {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.3:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		tp := textproto.NewConn(c)
		tp.ReadResponse(220)
		tp.PrintfLine("EHLO outside.test")
		tp.ReadResponse(250)
		tp.PrintfLine("MAIL FROM:<%s>", sender)
		tp.ReadResponse(250)
		for _, f := range relayForms {
			tp.PrintfLine("RCPT TO:<%s>", f)
			if code, msg, _ := tp.ReadResponse(0); code != 554 {
				t.Errorf("B relayed RCPT %s (sender %q): %d %s", f, sender, code, msg)
			}
		}
		c.Close()
	}
	if q := b.cli("", "queue", "list"); strings.Count(q, "\n") != 1 {
		t.Errorf("B queued relay attempts:\n%s", q)
	}
	b.stop()
	st := b.openStore()
	ms, err := st.ListMessages("bob@b.test", "INBOX")
	if err != nil || len(ms) != 1 {
		t.Fatalf("bob's INBOX: %d messages, %v\nB:\n%s", len(ms), err, b.logs())
	}
	body, _ := st.Body(ms[0].BodyID)
	got := string(body)
	ar := got[strings.Index(got, "Authentication-Results:"):]
	ar = ar[:strings.Index(ar, "\r\nReceived:")]
	for _, want := range []string{"dkim=pass", "spf=pass", "dmarc=pass", "header.d=a.test"} {
		if !strings.Contains(ar, want) {
			t.Errorf("Authentication-Results lacks %q:\n%s", want, ar)
		}
	}
	if strings.Count(got, "DKIM-Signature:") != 2 {
		t.Errorf("want 2 DKIM signatures (ed25519, RSA):\n%s", got)
	}
	if !strings.Contains(got, "Hi Bob, from A.") {
		t.Errorf("body lost:\n%s", got)
	}
}
