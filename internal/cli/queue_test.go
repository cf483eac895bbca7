package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/smtp"
	"github.com/authsmtp/authsmtp/smtp/dkim"
	"github.com/authsmtp/authsmtp/smtp/mtasts"
	"github.com/authsmtp/authsmtp/store"
)

// runCLI runs one admin command in-process on dir and returns its output.
func runCLI(t *testing.T, dir, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(append(args, "--data", dir), strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestMailflowCommands(t *testing.T) {
	dir := t.TempDir()
	ok := func(stdin string, args ...string) string {
		t.Helper()
		out, errs, code := runCLI(t, dir, stdin, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		return out
	}
	fail := func(want string, args ...string) {
		t.Helper()
		_, errs, code := runCLI(t, dir, "", args...)
		if code == 0 || !strings.Contains(errs, want) {
			t.Errorf("%v: exit %d, stderr %q, want failure with %q", args, code, errs, want)
		}
	}
	ok("", "domain", "add", "a.test")
	ok("password-123\n", "user", "add", "alice@a.test")
	out := ok("", "alias", "add", "sales@a.test", "alice@a.test", "ext@other.test", "--send-as", "alice@a.test")
	if !strings.Contains(out, "alice@a.test may send as sales@a.test") {
		t.Errorf("alias add: %q", out)
	}
	if out := ok("", "alias", "list", "a.test"); !strings.Contains(out, "sales@a.test") || !strings.Contains(out, "ext@other.test") {
		t.Errorf("alias list: %q", out)
	}
	fail("no such domain", "alias", "list", "nope.test")
	fail("no such domain", "alias", "add", "x@nope.test", "alice@a.test")
	fail("invalid email address", "alias", "add", "sales@a.test", "not-an-address")
	ok("", "alias", "remove", "sales@a.test")
	fail("not found", "alias", "remove", "sales@a.test")

	ok("", "domain", "catchall", "a.test", "alice@a.test")
	ok("", "domain", "catchall", "a.test", "off")
	fail("not found", "domain", "catchall", "a.test", "ghost@a.test")
	if out := ok("", "user", "forward", "alice@a.test", "me@other.test", "--keep"); !strings.Contains(out, "copy kept") {
		t.Errorf("forward: %q", out)
	}
	ok("", "user", "forward", "alice@a.test", "off")
	fail("itself", "user", "forward", "alice@a.test", "alice@a.test")
	ok("Back on Monday.\n", "user", "vacation", "alice@a.test", "on")
	fail("stdin", "user", "vacation", "alice@a.test", "on")
	ok("", "user", "vacation", "alice@a.test", "off")

	if out := ok("", "domain", "dns", "a.test"); !strings.Contains(out, "_dmarc.a.test.") || !strings.Contains(out, "k=ed25519") ||
		!strings.Contains(out, "_submissions._tcp.a.test.") || !strings.Contains(out, "v=spf1 mx -all") {
		t.Errorf("domain dns: %q", out)
	}
	if out := ok("", "domain", "dkim-rotate", "a.test"); strings.Count(out, "old, still published") != 2 {
		t.Errorf("dkim-rotate: %q", out)
	}
	if out := ok("", "queue", "list"); !strings.HasPrefix(out, "ID") {
		t.Errorf("queue list: %q", out)
	}
	fail("invalid queue id", "queue", "show", "zz")
	fail("not found", "queue", "show", "00000000000000ff")
	fail("not found", "queue", "retry", "00000000000000ff")
	ok("", "queue", "retry", "all")
	fail("not found", "queue", "delete", "00000000000000ff")
	if out := ok("", "queue", "captured", "--clear"); !strings.Contains(out, "removed 0") {
		t.Errorf("captured --clear: %q", out)
	}
	fail("unknown flag", "queue", "list", "--keep")
}

func TestDomainDNSCheck(t *testing.T) {
	d := mailtest.StartDNS(t)
	t.Setenv("AUTHSMTP_DNS", d.Addr)
	t.Setenv("AUTHSMTP_HOSTNAME", "mx.a.test")
	dir := t.TempDir()
	runCLI(t, dir, "", "domain", "add", "a.test")
	zone, _, _ := runCLI(t, dir, "", "domain", "dns", "a.test")
	out, errs, code := runCLI(t, dir, "", "domain", "dns", "a.test", "--check")
	if code != 1 || !strings.Contains(errs, "15 of 15 records missing") || !strings.Contains(out, "missing  MX    a.test") {
		t.Fatalf("nothing published: exit %d\n%s%s", code, out, errs)
	}
	// Publish everything exactly as printed (the test DNS takes zone lines;
	// long TXT values are given whole).
	quoted := regexp.MustCompile(`"([^"]*)"`)
	for _, line := range strings.Split(strings.TrimSpace(zone), "\n") {
		if strings.HasPrefix(line, ";") {
			continue
		}
		f := strings.Fields(line)
		if f[3] == "TXT" {
			var v strings.Builder
			for _, m := range quoted.FindAllStringSubmatch(line, -1) {
				v.WriteString(m[1])
			}
			d.AddTXT(strings.TrimSuffix(f[0], "."), v.String())
			continue
		}
		d.Add(t, line)
	}
	// The records alone are not enough: the policy must be served.
	out, errs, code = runCLI(t, dir, "", "domain", "dns", "a.test", "--check")
	if code != 1 || !strings.Contains(out, "missing  HTTPS https://mta-sts.a.test/.well-known/mta-sts.txt") || strings.Contains(errs, "records missing") {
		t.Fatalf("no policy server: exit %d\n%s%s", code, out, errs)
	}
	// A real HTTPS server with a test CA serves the policy at
	// mta-sts.a.test (resolved through the test DNS).
	served := mtasts.For("", "mx.a.test").Text()
	var mu sync.Mutex
	tlsConf, roots := mailtest.SelfSigned(t, "mta-sts.a.test")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "mta-sts.a.test" || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		mu.Lock()
		defer mu.Unlock()
		io.WriteString(w, served)
	}))
	srv.TLS = tlsConf
	srv.StartTLS()
	t.Cleanup(srv.Close)
	d.Add(t, "mx.a.test. 60 IN A 127.0.0.1")
	policyRoots, policyPort = roots, srv.Listener.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { policyRoots, policyPort = nil, 0 })
	out, errs, code = runCLI(t, dir, "", "domain", "dns", "a.test", "--check")
	if code != 0 || !strings.Contains(out, "all 15 records are published and the MTA-STS policy is served") || !strings.Contains(out, "ok       HTTPS") {
		t.Fatalf("all published: exit %d\n%s%s", code, out, errs)
	}
	// A policy that is not the domain's mode, or not valid, is wrong.
	for body, want := range map[string]string{
		mtasts.For("enforce", "mx.a.test").Text():         "mode enforce, want testing",
		mtasts.For("testing", "mx.elsewhere.test").Text(): "mx [mx.elsewhere.test], want [mx.a.test]",
		"version: STSv1\nmode: testing\nmx: mx.a.test\n":  "invalid policy",
	} {
		mu.Lock()
		served = body
		mu.Unlock()
		out, errs, code = runCLI(t, dir, "", "domain", "dns", "a.test", "--check")
		if code != 1 || !strings.Contains(out, "wrong    HTTPS") || !strings.Contains(out, want) || !strings.Contains(errs, "MTA-STS policy is wrong") {
			t.Errorf("served %q: exit %d\n%s%s", body, code, out, errs)
		}
	}
	mu.Lock()
	served = mtasts.For("", "mx.a.test").Text()
	mu.Unlock()
	// A wrong MX is reported as wrong.
	d.Remove("a.test")
	d.Add(t, "a.test. 60 IN MX 10 elsewhere.test.")
	out, _, code = runCLI(t, dir, "", "domain", "dns", "a.test", "--check")
	if code != 1 || !strings.Contains(out, "wrong    MX    a.test") || !strings.Contains(out, "missing  TXT   a.test") {
		t.Errorf("wrong MX: exit %d\n%s", code, out)
	}
}

// The alias send-as grant reaches the one submission pipeline.
func TestAliasSendAsThroughPipeline(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.AddDomain("a.test")
	st.SetDomainSwitch("a.test", "smtp", true)
	st.AddUser("alice@a.test", "password-123")
	st.AddUser("bob@a.test", "password-123")
	p := smtp.NewPipeline(st, "mx.a.test", quietLogger())
	p.Signer = dkim.New(st)
	alice := store.Principal{Kind: store.KindUser, Domain: "a.test", Address: "alice@a.test"}
	msg := []byte("From: Sales <sales@a.test>\r\nTo: <bob@a.test>\r\nSubject: offer\r\n\r\nhi\r\n")
	st.AddAlias("sales@a.test", []string{"alice@a.test", "bob@a.test"}, "")
	if _, err := p.Submit(context.Background(), alice, "sales@a.test", []string{"bob@a.test"}, msg); err == nil {
		t.Fatal("alias member sent as the alias without a grant")
	}
	st.AddAlias("sales@a.test", []string{"alice@a.test", "bob@a.test"}, "alice@a.test")
	acc, err := p.Submit(context.Background(), alice, "sales@a.test", []string{"bob@a.test", "x@remote.test"}, msg)
	if err != nil {
		t.Fatalf("granted send-as refused: %v", err)
	}
	q, err := st.GetQueue(acc.QueueID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := st.Body(q.BodyID)
	if bytes.Count(body, []byte("DKIM-Signature:")) != 2 || !bytes.Contains(body, []byte("d=a.test")) {
		t.Errorf("outbound mail not DKIM-signed twice:\n%s", body)
	}
	if _, err := p.Submit(context.Background(), store.Principal{Kind: store.KindUser, Domain: "a.test", Address: "bob@a.test"},
		"sales@a.test", []string{"x@remote.test"}, msg); err == nil {
		t.Error("the grant for alice let bob send as the alias")
	}
}

func TestQueueCommands(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	st.AddDomain("a.test")
	st.AddUser("alice@a.test", "password-123")
	acc, _ := st.Accept(&store.Incoming{From: "alice@a.test", Subject: "hello", Remote: []string{"x@remote.test", "y@remote.test"}, Body: []byte("Subject: hello\r\n\r\nx\r\n"),
		Service: "submission", CID: "7f"})
	st.UpdateQueue(acc.QueueID, func(q *store.QueueEntry) error {
		q.Attempts = append(q.Attempts, store.Attempt{Time: q.Created, Host: "mx.remote.test", Rcpts: []string{"x@remote.test"}, Reply: "451 4.7.1 greylisted"})
		q.Tries = 1
		return nil
	})
	cap1, _ := st.Accept(&store.Incoming{From: "alice@a.test", Login: "alice@a.test", Captured: true, Remote: []string{"z@remote.test"}, Body: []byte("Subject: c\r\n\r\nx\r\n")})
	st.Accept(&store.Incoming{From: "info@a.test", Login: "a.test", Captured: true, Remote: []string{"z@remote.test"}, Body: []byte("Subject: d\r\n\r\nx\r\n")})
	st.Close()

	out, _, _ := runCLI(t, dir, "", "queue", "list")
	if !strings.Contains(out, acc.QueueID) || !strings.Contains(out, "x@remote.test (+1)") || !strings.Contains(out, "greylisted") || !strings.Contains(out, "captured for alice@a.test") {
		t.Errorf("queue list:\n%s", out)
	}
	out, _, _ = runCLI(t, dir, "", "queue", "show", acc.QueueID)
	for _, want := range []string{"from:      alice@a.test", "session:   service=submission cid=7f", "pending  x@remote.test", "timeline:", "mx.remote.test  x@remote.test  451 4.7.1 greylisted"} {
		if !strings.Contains(out, want) {
			t.Errorf("queue show lacks %q:\n%s", want, out)
		}
	}
	if out, _, code := runCLI(t, dir, "", "queue", "retry", acc.QueueID); code != 0 || !strings.Contains(out, "1 message(s) due now") {
		t.Errorf("queue retry: %d %s", code, out)
	}
	out, _, _ = runCLI(t, dir, "", "queue", "captured", "Alice@A.test")
	if !strings.Contains(out, cap1.QueueID) || strings.Contains(out, "info@a.test") {
		t.Errorf("queue captured LOGIN:\n%s", out)
	}
	if out, _, _ := runCLI(t, dir, "", "queue", "captured"); strings.Count(out, "\n") != 3 {
		t.Errorf("queue captured (all):\n%s", out)
	}
	if out, _, _ := runCLI(t, dir, "", "queue", "captured", "a.test", "--clear"); !strings.Contains(out, "removed 1") {
		t.Errorf("captured --clear for the domain login: %s", out)
	}
	if out, _, code := runCLI(t, dir, "", "queue", "delete", acc.QueueID); code != 0 || !strings.Contains(out, "deleted") {
		t.Errorf("queue delete: %d %s", code, out)
	}
	if out, _, _ := runCLI(t, dir, "", "queue", "list"); strings.Contains(out, acc.QueueID) {
		t.Errorf("deleted entry still listed:\n%s", out)
	}
}

// TestDomainDNSHostnameFlag: without a running server, `domain dns` points
// the records at --hostname, which wins over AUTHSMTP_HOSTNAME; with
// neither, it falls back to mail.<domain>.
func TestDomainDNSHostnameFlag(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AUTHSMTP_HOSTNAME", "")
	os.Unsetenv("AUTHSMTP_HOSTNAME")
	if _, errs, code := runCLI(t, dir, "", "domain", "add", "a.test"); code != 0 {
		t.Fatalf("domain add: exit %d: %s", code, errs)
	}
	zone := func(args ...string) string {
		t.Helper()
		out, errs, code := runCLI(t, dir, "", append([]string{"domain", "dns", "a.test"}, args...)...)
		if code != 0 {
			t.Fatalf("domain dns %v: exit %d: %s", args, code, errs)
		}
		return out
	}
	if out := zone(); !strings.Contains(out, "(mail host mail.a.test)") || !strings.Contains(out, "IN MX    10 mail.a.test.") {
		t.Errorf("no hostname: want mail.a.test:\n%s", out)
	}
	out := zone("--hostname", "mx.example.test.")
	if !strings.Contains(out, "(mail host mx.example.test)") || !strings.Contains(out, "IN MX    10 mx.example.test.") ||
		!strings.Contains(out, "IN CNAME mx.example.test.") || strings.Contains(out, "mail.a.test") {
		t.Errorf("--hostname ignored:\n%s", out)
	}
	t.Setenv("AUTHSMTP_HOSTNAME", "env.example.test")
	if out := zone(); !strings.Contains(out, "(mail host env.example.test)") {
		t.Errorf("AUTHSMTP_HOSTNAME ignored:\n%s", out)
	}
	if out := zone("--hostname=flag.example.test"); !strings.Contains(out, "(mail host flag.example.test)") {
		t.Errorf("--hostname does not win over AUTHSMTP_HOSTNAME:\n%s", out)
	}
}

// TestDomainDNSPorts: without a running server, the SRV records name the
// ports of this process's listener flags; a listener that is off gets the
// RFC 6186 "not available" record, never a guessed standard port.
func TestDomainDNSPorts(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"SUBMISSION", "SUBMISSIONS", "IMAP", "IMAPS", "HTTPS"} {
		t.Setenv("AUTHSMTP_"+v, "")
		os.Unsetenv("AUTHSMTP_" + v)
	}
	if _, errs, code := runCLI(t, dir, "", "domain", "add", "a.test"); code != 0 {
		t.Fatalf("domain add: exit %d: %s", code, errs)
	}
	out, errs, code := runCLI(t, dir, "", "domain", "dns", "a.test", "--hostname", "mx.a.test",
		"--submission", ":2525", "--submissions", "", "--imap", "", "--imaps", "0.0.0.0:10993", "--https", ":8443")
	if code != 0 {
		t.Fatalf("domain dns: exit %d: %s", code, errs)
	}
	srv := regexp.MustCompile(`(?m)^(_\S+)\s+3600 IN SRV\s+(.*)$`)
	got := map[string]string{}
	for _, m := range srv.FindAllStringSubmatch(out, -1) {
		got[m[1]] = m[2]
	}
	want := map[string]string{
		"_submission._tcp.a.test.":   "0 1 2525 mx.a.test.",
		"_submissions._tcp.a.test.":  "0 0 0 .",
		"_imap._tcp.a.test.":         "0 0 0 .",
		"_imaps._tcp.a.test.":        "0 1 10993 mx.a.test.",
		"_autodiscover._tcp.a.test.": "0 1 8443 mx.a.test.",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s SRV %q, want %q\n%s", k, got[k], v, out)
		}
	}
	// The defaults are the standard ports.
	out, _, _ = runCLI(t, dir, "", "domain", "dns", "a.test")
	for _, w := range []string{"0 1 587 ", "0 1 465 ", "0 1 143 ", "0 1 993 ", "0 1 443 "} {
		if !strings.Contains(out, w) {
			t.Errorf("default ports: no %q in\n%s", w, out)
		}
	}
}

func TestPostmasterCommand(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (string, string, int) { return runCLI(t, dir, "password-123\n", args...) }
	run("domain", "add", "a.test")
	run("domain", "add", "b.test")
	run("user", "add", "alice@a.test")
	if out, _, code := run("domain", "postmaster", "a.test"); code != 0 || !strings.Contains(out, "no postmaster") {
		t.Fatalf("unset: exit %d %q", code, out)
	}
	if _, errs, code := run("domain", "postmaster", "a.test", "ghost@a.test"); code == 0 || !strings.Contains(errs, "existing user") {
		t.Fatalf("unknown user accepted: %d %q", code, errs)
	}
	// One person may be the postmaster of several domains.
	for _, d := range []string{"a.test", "www.B.test"} {
		if out, errs, code := run("domain", "postmaster", d, "alice@a.test"); code != 0 || !strings.Contains(out, "go to alice@a.test") {
			t.Fatalf("set %s: exit %d %q %q", d, code, out, errs)
		}
	}
	if out, _, _ := run("domain", "postmaster", "b.test"); !strings.Contains(out, "b.test: postmaster@ and abuse@ go to alice@a.test") {
		t.Fatalf("show: %q", out)
	}
	if out, _, code := run("domain", "postmaster", "a.test", "off"); code != 0 || !strings.Contains(out, "no postmaster") {
		t.Fatalf("off: %d %q", code, out)
	}
}
