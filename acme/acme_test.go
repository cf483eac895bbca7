package acme

import (
	"bufio"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
)

const issueWait = 60 * time.Second

// acmeConfig is mode acme against p for host.
func acmeConfig(p *testutil.Pebble, host string) Config {
	return Config{Mode: ModeACME, Hostname: host, CA: p.URL, CARoots: p.TLS, Email: "ops@" + host}
}

// checkServed asserts that the mail port and the HTTPS port present a
// certificate for host chained to Pebble's root, with and without SNI.
func checkServed(t *testing.T, r *rig, p *testutil.Pebble, host string) {
	t.Helper()
	for _, tc := range []struct {
		what, addr, sni string
		alpn            []string
	}{
		{"mail port, SNI", r.ml.Addr().String(), host, nil},
		{"mail port, no SNI", r.ml.Addr().String(), "", nil},
		{"https", r.httpsLn.Addr().String(), host, []string{"h2", "http/1.1"}},
	} {
		if _, err := handshake(tc.addr, tc.sni, tc.alpn, p.Roots, host); err != nil {
			t.Errorf("%s: %v", tc.what, err)
		}
	}
}

func TestACMEHTTP01(t *testing.T) {
	t.Parallel()
	host := "http01.authsmtp.test"
	r := newListeners(t)
	p := testutil.StartPebbleFor(t, port(r.httpLn), testutil.ClosedPort(t), 0)
	r.start(t, acmeConfig(p, host), openStore(t, t.TempDir()), true, false)
	r.wait(t, "loaded", host, issueWait)
	checkServed(t, r, p, host)

	st := r.m.Status()
	if len(st) != 1 || st[0].Name != host || st[0].Source != ModeACME || st[0].LastError != "" || !contains(st[0].Issuer, "pebble") {
		t.Errorf("status = %+v, want %s from acme (Pebble), no error", st, host)
	}
	if n := p.Orders.Load(); n != 1 {
		t.Errorf("orders = %d, want 1", n)
	}

	// A handshake for a name that is not ours starts no order and gets
	// the hostname's certificate.
	for _, sni := range []string{"random.example.org", "evil.authsmtp.test"} {
		leaf, err := handshake(r.httpsLn.Addr().String(), sni, []string{"http/1.1"}, p.Roots, host)
		if err != nil {
			t.Errorf("SNI %s: %v", sni, err)
		} else if leaf.VerifyHostname(sni) == nil {
			t.Errorf("SNI %s: got a certificate for it", sni)
		}
	}
	if n := p.Orders.Load(); n != 1 {
		t.Errorf("orders after random SNI = %d, want still 1", n)
	}
}

func TestACMETLSALPN01(t *testing.T) {
	t.Parallel()
	host := "alpn01.authsmtp.test"
	r := newListeners(t)
	p := testutil.StartPebbleFor(t, testutil.ClosedPort(t), port(r.httpsLn), 0)
	r.start(t, acmeConfig(p, host), openStore(t, t.TempDir()), false, true)
	r.wait(t, "loaded", host, issueWait)
	checkServed(t, r, p, host)

	// The mail port never speaks acme-tls/1 or http/1.1 (ALPACA); a client
	// that offers no ALPN (every mail client) is served.
	for _, alpn := range [][]string{{"acme-tls/1"}, {"http/1.1"}, {"h2", "http/1.1"}} {
		if _, err := handshake(r.ml.Addr().String(), host, alpn, nil, ""); err == nil {
			t.Errorf("mail port accepted ALPN %v", alpn)
		}
	}
	c, err := tls.Dial("tcp", r.ml.Addr().String(), &tls.Config{ServerName: host, RootCAs: p.Roots})
	if err != nil {
		t.Fatalf("mail port without ALPN: %v", err)
	}
	defer c.Close()
	if line, _ := bufio.NewReader(c).ReadString('\n'); line != "220 ready\r\n" {
		t.Errorf("banner = %q", line)
	}
}

// TestACMERestartUsesStore: a second start on the same file loads the
// certificate from bbolt and orders nothing.
func TestACMERestartUsesStore(t *testing.T) {
	t.Parallel()
	host := "restart.authsmtp.test"
	dir := t.TempDir()
	r1 := newListeners(t)
	p := testutil.StartPebbleFor(t, port(r1.httpLn), testutil.ClosedPort(t), 0)
	st := openStore(t, dir)
	r1.start(t, acmeConfig(p, host), st, true, false)
	r1.wait(t, "loaded", host, issueWait)
	first, err := handshake(r1.ml.Addr().String(), host, nil, p.Roots, host)
	if err != nil {
		t.Fatal(err)
	}
	r1.m.Stop()
	st.Close()

	st2 := openStore(t, dir)
	defer st2.Close()
	r2 := newListeners(t)
	r2.start(t, acmeConfig(p, host), st2, true, false)
	r2.wait(t, "loaded", host, 10*time.Second)
	again, err := handshake(r2.ml.Addr().String(), host, nil, p.Roots, host)
	if err != nil {
		t.Fatal(err)
	}
	if again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("after restart serial %v, want the stored %v", again.SerialNumber, first.SerialNumber)
	}
	if n := p.Orders.Load(); n != 1 {
		t.Errorf("orders = %d, want 1 (restart must not order)", n)
	}
}

// TestACMERenewalWithoutRestart: with 10-second certificates the mail
// port serves a renewed certificate without any restart.
func TestACMERenewalWithoutRestart(t *testing.T) {
	t.Parallel()
	host := "renew.authsmtp.test"
	r := newListeners(t)
	p := testutil.StartPebbleFor(t, port(r.httpLn), testutil.ClosedPort(t), 10)
	cfg := acmeConfig(p, host)
	cfg.RenewCheckInterval = time.Second
	r.start(t, cfg, openStore(t, t.TempDir()), true, false)
	r.wait(t, "loaded", host, issueWait)
	first, err := handshake(r.ml.Addr().String(), host, nil, p.Roots, host)
	if err != nil {
		t.Fatal(err)
	}
	r.wait(t, "renewed", host, 30*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		leaf, err := handshake(r.ml.Addr().String(), host, nil, p.Roots, host)
		if err == nil && leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail port still serves serial %v after renewal (err %v)", first.SerialNumber, err)
		}
		select { // the cache is updated just after the event
		case <-r.events:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestACMETwoManagersOneOrder: two certmagic configs on one store start
// at once; the storage lock lets one order and the other load its result.
func TestACMETwoManagersOneOrder(t *testing.T) {
	t.Parallel()
	host := "lock.authsmtp.test"
	ra, rb := newListeners(t), newListeners(t)
	p := testutil.StartPebbleFor(t, port(ra.httpLn), testutil.ClosedPort(t), 0)
	st := openStore(t, t.TempDir())
	// Both answer HTTP-01 from the shared store; Pebble asks ra's port.
	ra.start(t, acmeConfig(p, host), st, true, false)
	rb.start(t, acmeConfig(p, host), st, true, false)
	ra.wait(t, "loaded", host, issueWait)
	rb.wait(t, "loaded", host, issueWait)
	a, err := handshake(ra.ml.Addr().String(), host, nil, p.Roots, host)
	if err != nil {
		t.Fatal(err)
	}
	b, err := handshake(rb.ml.Addr().String(), host, nil, p.Roots, host)
	if err != nil {
		t.Fatal(err)
	}
	if a.SerialNumber.Cmp(b.SerialNumber) != 0 {
		t.Errorf("managers serve different certificates %v and %v", a.SerialNumber, b.SerialNumber)
	}
	if n := p.Orders.Load(); n != 1 {
		t.Errorf("orders = %d, want 1", n)
	}
}

func TestACMEUnreachableCA(t *testing.T) {
	t.Parallel()
	host := "noca.authsmtp.test"
	r := newListeners(t)
	cfg := Config{Mode: ModeACME, Hostname: host, CA: "https://127.0.0.1:" + strconv.Itoa(testutil.ClosedPort(t)) + "/dir"}
	r.start(t, cfg, openStore(t, t.TempDir()), true, true)
	r.wait(t, "failed", host, 30*time.Second)
	leaf, err := handshake(r.ml.Addr().String(), host, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !isSelfSigned(leaf) || leaf.VerifyHostname(host) != nil {
		t.Errorf("served %v, want the self-signed certificate for %s", leaf.Subject, host)
	}
	st := r.m.Status()
	if len(st) != 1 || st[0].Source != ModeSelfSigned || !contains(st[0].LastError, "connect") {
		t.Errorf("status = %+v, want self-signed with the connection error", st)
	}
	stored, err := ReadStatus(r.st)
	if err != nil || len(stored) != 1 || stored[0].Name != host || stored[0].LastError != st[0].LastError {
		t.Errorf("stored status = %+v, %v; want the same error as live %q", stored, err, st[0].LastError)
	}
}

func TestACMEFailingChallenge(t *testing.T) {
	t.Parallel()
	host := "badchal.authsmtp.test"
	r := newListeners(t)
	// Pebble validates on ports where nothing answers.
	p := testutil.StartPebbleFor(t, testutil.ClosedPort(t), testutil.ClosedPort(t), 0)
	r.start(t, acmeConfig(p, host), openStore(t, t.TempDir()), true, true)
	r.wait(t, "failed", host, issueWait)
	leaf, err := handshake(r.ml.Addr().String(), "", nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !isSelfSigned(leaf) {
		t.Errorf("served %v, want self-signed while the CA fails", leaf.Subject)
	}
	st := r.m.Status()
	if len(st) != 1 || st[0].LastError == "" || st[0].Source != ModeSelfSigned {
		t.Errorf("status = %+v, want self-signed with the challenge error", st)
	}
}

// TestACMEHostedDomainsAndReload: with Domains, mail.<d> and
// autoconfig.<d> of hosted domains get their own certificates, and
// Reload picks up a domain added while running.
func TestACMEHostedDomainsAndReload(t *testing.T) {
	t.Parallel()
	host := "mx.domains.authsmtp.test"
	r := newListeners(t)
	p := testutil.StartPebbleFor(t, port(r.httpLn), testutil.ClosedPort(t), 0)
	var mu sync.Mutex
	domains := []string{"One.Test"}
	cfg := acmeConfig(p, host)
	cfg.Domains = true
	cfg.HostedDomains = func() ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(domains), nil
	}
	r.start(t, cfg, openStore(t, t.TempDir()), true, false)
	for _, n := range []string{host, "mail.one.test", "autoconfig.one.test", "mta-sts.one.test"} {
		r.wait(t, "loaded", n, issueWait)
	}
	// SNI picks the name's own certificate.
	for _, n := range []string{"mail.one.test", "autoconfig.one.test", "mta-sts.one.test", "MAIL.ONE.TEST."} {
		if _, err := handshake(r.httpsLn.Addr().String(), n, []string{"http/1.1"}, p.Roots, normName(n)); err != nil {
			t.Errorf("SNI %s: %v", n, err)
		}
	}
	// Not yet hosted: no certificate, no order.
	before := p.Orders.Load()
	if _, err := handshake(r.ml.Addr().String(), "mail.two.test", nil, p.Roots, "mail.two.test"); err == nil {
		t.Error("got a certificate for a domain not hosted yet")
	}
	if p.Orders.Load() != before {
		t.Error("a handshake for a domain not hosted started an order")
	}
	mu.Lock()
	domains = append(domains, "two.test")
	mu.Unlock()
	if err := r.m.Reload(); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "loaded", "mail.two.test", issueWait)
	if _, err := handshake(r.ml.Addr().String(), "mail.two.test", nil, p.Roots, "mail.two.test"); err != nil {
		t.Errorf("after Reload: %v", err)
	}
	names := map[string]bool{}
	for _, s := range r.m.Status() {
		names[s.Name] = s.Source == ModeACME
	}
	for _, n := range []string{host, "mail.one.test", "autoconfig.one.test", "mail.two.test"} {
		if !names[n] {
			t.Errorf("status lacks an acme certificate for %s: %+v", n, r.m.Status())
		}
	}
}

// TestHTTPChallengeHandlerBadInput: requests that are not a pending
// challenge (unknown token, hostile Host, other paths) go to next.
func TestHTTPChallengeHandlerBadInput(t *testing.T) {
	t.Parallel()
	r := newListeners(t)
	p := testutil.StartPebbleFor(t, testutil.ClosedPort(t), testutil.ClosedPort(t), 0)
	r.start(t, acmeConfig(p, "chal.authsmtp.test"), openStore(t, t.TempDir()), true, false)
	h := r.m.HTTPChallengeHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	for _, tc := range []struct{ host, path string }{
		{"chal.authsmtp.test", "/.well-known/acme-challenge/unknown-token"},
		{"../../../../etc", "/.well-known/acme-challenge/x"},
		{"chal.authsmtp.test", "/.well-known/acme-challenge/../../certmagic/acme"},
		{strings.Repeat("a", 5000), "/.well-known/acme-challenge/" + strings.Repeat("b", 5000)},
		{"chal.authsmtp.test", "/admin"},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://x"+tc.path, nil)
		req.Host = tc.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusTeapot {
			t.Errorf("Host %.20q path %.60q: code %d, want it passed on", tc.host, tc.path, rec.Code)
		}
	}
}

// TestACMEExternalAccountBinding: a CA that requires EAB refuses an
// account without it and issues with the right key id and HMAC.
func TestACMEExternalAccountBinding(t *testing.T) {
	t.Parallel()
	const kid, hmac = "kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	for _, tc := range []struct {
		name, kid, hmac string
		ok              bool
	}{
		{"right", kid, hmac, true},
		{"none", "", "", false},
		{"wrong-key", kid, "AAAA" + hmac[4:], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			host := "eab-" + tc.name + ".authsmtp.test"
			r := newListeners(t)
			p := testutil.StartPebble(t, 0)
			p.EAB = map[string]string{kid: hmac}
			p.Validate(port(r.httpLn), testutil.ClosedPort(t))
			cfg := acmeConfig(p, host)
			cfg.EABKeyID, cfg.EABHMAC = tc.kid, tc.hmac
			r.start(t, cfg, openStore(t, t.TempDir()), true, false)
			if tc.ok {
				r.wait(t, "loaded", host, issueWait)
				if _, err := handshake(r.ml.Addr().String(), host, nil, p.Roots, host); err != nil {
					t.Error(err)
				}
				return
			}
			r.wait(t, "failed", host, issueWait)
			if st := r.m.Status(); st[0].Source != ModeSelfSigned || !contains(st[0].LastError, "external") {
				t.Errorf("status = %+v, want the EAB refusal", st)
			}
			if n := p.Orders.Load(); n != 0 {
				t.Errorf("orders = %d without a valid account", n)
			}
		})
	}
}
