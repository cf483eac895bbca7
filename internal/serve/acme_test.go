package serve

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/acme"
	"github.com/authsmtp/authsmtp/internal/cli"
	"github.com/authsmtp/authsmtp/internal/config"
	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/smtp/mtasts"
)

// acmeServer is a whole server in --tls acme mode against an in-process
// Pebble, with its certificate events.
type acmeServer struct {
	*testServer
	events chan string // "kind name"
	seen   map[string]bool
}

// acmeTestConfig points cfg at p, trusting its HTTPS via --acme-ca-root.
func acmeTestConfig(t *testing.T, p *testutil.Pebble, host string) config.Config {
	cfg := tlsTestConfig(t, host)
	root := filepath.Join(t.TempDir(), "pebble-root.pem")
	if err := os.WriteFile(root, p.TLSPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.TLSMode, cfg.ACMECA, cfg.ACMECARoot, cfg.ACMEEmail = acme.ModeACME, p.URL, root, "postmaster@"+host
	return cfg
}

func startACMEServer(t *testing.T, cfg config.Config, tune func(*acme.Config)) *acmeServer {
	t.Helper()
	as := &acmeServer{events: make(chan string, 100), seen: map[string]bool{}}
	as.testServer = startTestServer(t, cfg, func(c *acme.Config) {
		c.OnChange = func(kind, name string) {
			select {
			case as.events <- kind + " " + name:
			default:
			}
		}
		if tune != nil {
			tune(c)
		}
	})
	return as
}

// needChallengeListener returns the port of the web service's --http or
// --https listener, where the CA's challenges are answered.
func (as *acmeServer) needChallengeListener(t *testing.T, svc string) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(as.addr(t, svc))
	n, _ := strconv.Atoi(p)
	return n
}

// wait returns once the event has happened (events seen while waiting
// for another are remembered), or fails the test.
func (as *acmeServer) wait(t *testing.T, want string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for !as.seen[want] {
		select {
		case e := <-as.events:
			as.seen[e] = true
		case <-deadline:
			t.Fatalf("no %q within %v; status %+v", want, d, as.srv.tls.Status())
		}
	}
}

// checkAllListeners asserts that every TLS listener presents a
// certificate for host chained to roots: SMTP submission (STARTTLS), 465,
// the MX (STARTTLS), IMAP (STARTTLS), IMAPS, and HTTPS when it is on.
func checkAllListeners(t *testing.T, ts *testServer, host string, roots *x509.CertPool) {
	t.Helper()
	startTLSLeaf(t, ts.addr(t, "submission"), host, roots)
	testutil.ImplicitTLSLeaf(t, ts.addr(t, "submissions"), host, roots)
	startTLSLeaf(t, ts.addr(t, "mx"), host, roots)
	imapStartTLSLeaf(t, ts.addr(t, "imap"), host, roots)
	testutil.ImplicitTLSLeaf(t, ts.addr(t, "imaps"), host, roots)
	if ts.srv.cfg.HTTPS != "" {
		testutil.ImplicitTLSLeaf(t, ts.addr(t, "https"), host, roots, "h2", "http/1.1")
	}
}

// TestServerACMEHTTP01: issuance over HTTP-01 on --http; every listener
// serves the chain; other SNI names order nothing; a restart reuses the
// stored certificate.
func TestServerACMEHTTP01(t *testing.T) {
	t.Parallel()
	host := "mail.http01.authsmtp.test"
	p := testutil.StartPebble(t, 0)
	cfg := acmeTestConfig(t, p, host)
	cfg.HTTPS = "" // only HTTP-01 can work
	as := startACMEServer(t, cfg, nil)
	p.Validate(as.needChallengeListener(t, "http"), testutil.ClosedPort(t))
	as.wait(t, "loaded "+host, time.Minute)
	checkAllListeners(t, as.testServer, host, p.Roots)
	// Names that are not ours start no order.
	testutil.ImplicitTLSLeaf(t, as.addr(t, "submissions"), "random.example.org", nil)
	startTLSLeaf(t, as.addr(t, "submission"), "", nil)
	if n := p.Orders.Load(); n != 1 {
		t.Errorf("orders = %d, want 1", n)
	}

	// Stop and start again on the same file: the certificate comes from
	// bbolt, nothing is ordered.
	first := startTLSLeaf(t, as.addr(t, "submission"), host, p.Roots)
	as.stop()
	as2 := startACMEServer(t, cfg, nil)
	as2.wait(t, "loaded "+host, 10*time.Second)
	if again := startTLSLeaf(t, as2.addr(t, "submission"), host, p.Roots); again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("after restart serial %v, want the stored %v", again.SerialNumber, first.SerialNumber)
	}
	testutil.ImplicitTLSLeaf(t, as2.addr(t, "imaps"), host, p.Roots)
	if n := p.Orders.Load(); n != 1 {
		t.Errorf("restart ordered: %d orders, want 1", n)
	}
}

func TestServerACMETLSALPN01(t *testing.T) {
	t.Parallel()
	host := "mail.alpn01.authsmtp.test"
	p := testutil.StartPebble(t, 0)
	cfg := acmeTestConfig(t, p, host)
	cfg.HTTP = "" // only TLS-ALPN-01 on --https can work
	cfg.ACMEDomains = true
	as := startACMEServer(t, cfg, nil)
	p.Validate(testutil.ClosedPort(t), as.needChallengeListener(t, "https"))
	as.wait(t, "loaded "+host, time.Minute)
	checkAllListeners(t, as.testServer, host, p.Roots)
	var out, errb strings.Builder
	if rc := cli.Main([]string{"tls", "status", "--data", cfg.Data}, strings.NewReader(""), &out, &errb); rc != 0 ||
		!strings.Contains(out.String(), host) || !strings.Contains(out.String(), "acme") || !strings.Contains(out.String(), "Pebble") {
		t.Errorf("tls status: rc %d\n%s%s", rc, out.String(), errb.String())
	}

	// Mail ports never speak the web's ALPN (ALPACA) nor answer
	// acme-tls/1; only HTTPS does.
	for _, svc := range []string{"submissions", "imaps"} {
		for _, alpn := range []string{"http/1.1", "acme-tls/1"} {
			c, err := tls.Dial("tcp", as.addr(t, svc), &tls.Config{ServerName: host, RootCAs: p.Roots, NextProtos: []string{alpn}})
			if err == nil {
				c.Close()
				t.Errorf("%s accepted ALPN %s", svc, alpn)
			}
		}
	}

	// --acme-domains: a domain added while running gets mail.<d> and
	// autoconfig.<d> at the next reload (SIGHUP).
	if _, err := as.srv.st.AddDomain("hosted.authsmtp.test"); err != nil {
		t.Fatal(err)
	}
	if err := as.srv.tls.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"mail.hosted.authsmtp.test", "autoconfig.hosted.authsmtp.test", "mta-sts.hosted.authsmtp.test"} {
		as.wait(t, "loaded "+n, time.Minute)
		testutil.ImplicitTLSLeaf(t, as.addr(t, "https"), n, p.Roots, "http/1.1")
	}
	testutil.ImplicitTLSLeaf(t, as.addr(t, "imaps"), "mail.hosted.authsmtp.test", p.Roots)

	// The MTA-STS policy is fetched as a sender does: HTTPS verified with
	// the CA's roots (Pebble's here) for mta-sts.<domain>, and read with
	// the strict parser the queue uses for other domains' policies.
	httpsAddr := as.addr(t, "https")
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.Roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
		},
	}}
	pol, _, err := mtasts.Fetch(context.Background(), client, "hosted.authsmtp.test")
	if err != nil {
		t.Fatalf("fetching the MTA-STS policy: %v", err)
	}
	if pol.Mode != mtasts.ModeTesting || len(pol.MX) != 1 || pol.MX[0] != host {
		t.Errorf("policy %+v, want testing with mx %s", pol, host)
	}
}

// TestServerACMERenewal: 10-second certificates are renewed and the SMTP
// listener serves the new one without a restart.
func TestServerACMERenewal(t *testing.T) {
	t.Parallel()
	host := "mail.renew.authsmtp.test"
	p := testutil.StartPebble(t, 10)
	cfg := acmeTestConfig(t, p, host)
	cfg.HTTPS = ""
	as := startACMEServer(t, cfg, func(c *acme.Config) { c.RenewCheckInterval = time.Second })
	p.Validate(as.needChallengeListener(t, "http"), testutil.ClosedPort(t))
	as.wait(t, "loaded "+host, time.Minute)
	first := startTLSLeaf(t, as.addr(t, "submission"), host, p.Roots)
	as.wait(t, "renewed "+host, 30*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for startTLSLeaf(t, as.addr(t, "submission"), host, p.Roots).SerialNumber.Cmp(first.SerialNumber) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("STARTTLS still serves the first certificate after renewal")
		}
		select { // the cache is updated just after the event
		case <-as.events:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestServerACMEUnreachableCA: the server starts on self-signed, and the
// status (live and from the file) says why.
func TestServerACMEUnreachableCA(t *testing.T) {
	t.Parallel()
	host := "mail.noca.authsmtp.test"
	cfg := tlsTestConfig(t, host)
	cfg.TLSMode, cfg.ACMECA = acme.ModeACME, "https://127.0.0.1:"+strconv.Itoa(testutil.ClosedPort(t))+"/dir"
	as := startACMEServer(t, cfg, nil)
	leaf := startTLSLeaf(t, as.addr(t, "submission"), host, nil)
	if leaf.Issuer.CommonName != host || leaf.VerifyHostname(host) != nil {
		t.Errorf("served %v issued by %v, want the self-signed one for %s", leaf.DNSNames, leaf.Issuer, host)
	}
	if as.addrs["http"] != "" || as.addrs["https"] != "" {
		as.wait(t, "failed "+host, 30*time.Second)
	}
	st := as.srv.tls.Status()
	if len(st) != 1 || st[0].Source != acme.ModeSelfSigned || st[0].LastError == "" {
		t.Fatalf("status = %+v, want self-signed with a reason", st)
	}
	var out, errb strings.Builder
	as.stop()
	if rc := cli.Main([]string{"tls", "status", "--data", cfg.Data}, strings.NewReader(""), &out, &errb); rc != 0 ||
		!strings.Contains(out.String(), host) || !strings.Contains(out.String(), st[0].LastError) {
		t.Errorf("tls status from the file: rc %d, want %q\n%s%s", rc, st[0].LastError, out.String(), errb.String())
	}
}

// imapStartTLSLeaf runs STARTTLS on an IMAP port and returns the leaf,
// verified against roots for name.
func imapStartTLSLeaf(t *testing.T, addr, name string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
		t.Fatalf("IMAP greeting %q, %v", line, err)
	}
	fmt.Fprintf(c, "a1 STARTTLS\r\n")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("IMAP STARTTLS: %v", err)
		}
		if strings.HasPrefix(line, "a1 ") {
			if !strings.HasPrefix(line, "a1 OK") {
				t.Fatalf("IMAP STARTTLS answered %q", line)
			}
			break
		}
	}
	tc := tls.Client(c, &tls.Config{ServerName: name, RootCAs: roots, InsecureSkipVerify: roots == nil})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("IMAP STARTTLS handshake: %v", err)
	}
	return tc.ConnectionState().PeerCertificates[0]
}
