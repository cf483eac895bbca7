package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	netsmtp "net/smtp"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/acme"
	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/store"
)

// listenLog records where each service listens, from the "listening" log
// lines (the addresses are 127.0.0.1:0 until bound), and passes every
// record on to next.
type listenLog struct {
	next  slog.Handler
	mu    *sync.Mutex
	addrs map[string]string
}

func (h listenLog) Enabled(ctx context.Context, l slog.Level) bool { return true }
func (h listenLog) WithAttrs(as []slog.Attr) slog.Handler {
	return listenLog{h.next.WithAttrs(as), h.mu, h.addrs}
}
func (h listenLog) WithGroup(g string) slog.Handler {
	return listenLog{h.next.WithGroup(g), h.mu, h.addrs}
}
func (h listenLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "listening" {
		var svc, addr string
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "service":
				svc = a.Value.String()
			case "addr":
				addr = a.Value.String()
			}
			return true
		})
		h.mu.Lock()
		h.addrs[svc] = addr
		h.mu.Unlock()
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

// testServer is a whole authsmtp server in the test process with every
// listener on 127.0.0.1:0.
type testServer struct {
	srv   *server
	addrs map[string]string
	stop  func()
}

// tlsTestConfig is a config with all listeners on loopback port 0.
func tlsTestConfig(t *testing.T, host string) config {
	cfg := defaultConfig()
	cfg.Data = t.TempDir()
	cfg.Hostname = host
	for _, p := range []*string{&cfg.Submission, &cfg.Submissions, &cfg.MX, &cfg.IMAP, &cfg.IMAPS, &cfg.HTTPS, &cfg.HTTP} {
		*p = "127.0.0.1:0"
	}
	cfg.Capture = true
	return cfg
}

func startTestServer(t *testing.T, cfg config, tune func(*acme.Config)) *testServer {
	t.Helper()
	st, err := store.Open(cfg.Data, store.Options{Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addrs: map[string]string{}}
	log := slog.New(listenLog{testutil.Logger(t).Handler(), &sync.Mutex{}, ts.addrs})
	ts.srv = &server{cfg: cfg, st: st, log: log, out: &strings.Builder{}, tlsTune: tune}
	if err := ts.srv.start(context.Background()); err != nil {
		ts.srv.stopAll(context.Background())
		st.Close()
		t.Fatalf("starting the server: %v", err)
	}
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ts.srv.stopAll(ctx)
			st.Close()
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) addr(t *testing.T, svc string) string {
	t.Helper()
	a := ts.addrs[svc]
	if a == "" {
		t.Fatalf("the server has no %s listener (listening on %v)", svc, ts.addrs)
	}
	return a
}

// startTLSLeaf runs EHLO + STARTTLS on a submission port and returns the
// server's leaf certificate, verified against roots for name if roots.
func startTLSLeaf(t *testing.T, addr, name string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	c, err := netsmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{ServerName: name, RootCAs: roots, InsecureSkipVerify: roots == nil}
	if err := c.StartTLS(cfg); err != nil {
		t.Fatalf("STARTTLS on %s: %v", addr, err)
	}
	cs, _ := c.TLSConnectionState()
	return cs.PeerCertificates[0]
}

// implicitTLSLeaf handshakes with an implicit-TLS port (465, 993, 443).
func implicitTLSLeaf(t *testing.T, addr, name string, roots *x509.CertPool, alpn ...string) *x509.Certificate {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: name, RootCAs: roots, InsecureSkipVerify: roots == nil, NextProtos: alpn})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// TestServerFilesModeSMTP: with --tls files, replacing the files changes
// the certificate of the next STARTTLS and implicit-TLS handshake.
func TestServerFilesModeSMTP(t *testing.T) {
	t.Parallel()
	host := "files.authsmtp.test"
	cfg := tlsTestConfig(t, host)
	dir := t.TempDir()
	cfg.TLSMode, cfg.TLSCert, cfg.TLSKey = acme.ModeFiles, filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	first := writeCertFiles(t, cfg.TLSCert, cfg.TLSKey, host)
	ts := startTestServer(t, cfg, nil)
	if got := startTLSLeaf(t, ts.addr(t, "submission"), host, first.pool); got.SerialNumber.Cmp(first.leaf.SerialNumber) != 0 {
		t.Fatalf("STARTTLS serves serial %v, want %v", got.SerialNumber, first.leaf.SerialNumber)
	}
	second := writeCertFiles(t, cfg.TLSCert, cfg.TLSKey, host)
	if got := startTLSLeaf(t, ts.addr(t, "submission"), host, second.pool); got.SerialNumber.Cmp(second.leaf.SerialNumber) != 0 {
		t.Errorf("STARTTLS after replacing the files serves serial %v, want %v", got.SerialNumber, second.leaf.SerialNumber)
	}
	if got := implicitTLSLeaf(t, ts.addr(t, "submissions"), host, second.pool); got.SerialNumber.Cmp(second.leaf.SerialNumber) != 0 {
		t.Errorf("465 after replacing the files serves serial %v, want %v", got.SerialNumber, second.leaf.SerialNumber)
	}
}

type certFiles struct {
	leaf *x509.Certificate
	pool *x509.CertPool
}

// writeCertFiles writes a new self-signed pair for host, replacing the
// files by rename as an ACME client would.
func writeCertFiles(t *testing.T, certFile, keyFile, host string) certFiles {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	// A throwaway self-signed manager makes the pair in its own store.
	m, err := acme.New(acme.Config{Mode: acme.ModeSelfSigned, Hostname: host, Logger: testutil.Logger(t)}, st)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := m.GetCertificate(&tls.ClientHelloInfo{})
	raw, _ := st.CertGet("selfsigned/cert+key.pem")
	st.Close()
	s := string(raw)
	i := strings.Index(s, "-----BEGIN EC PRIVATE KEY")
	for f, data := range map[string]string{certFile: s[:i], keyFile: s[i:]} {
		if err := os.WriteFile(f+".new", []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f+".new", f); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.Leaf)
	return certFiles{c.Leaf, pool}
}

// TestTLSStatusCommand: `authsmtp tls status` through the running server
// and directly on the file once it stopped.
func TestTLSStatusCommand(t *testing.T) {
	t.Parallel()
	host := "status.authsmtp.test"
	cfg := tlsTestConfig(t, host)
	cfg.TLSMode = acme.ModeSelfSigned
	ts := startTestServer(t, cfg, nil)
	var out, errb strings.Builder
	if rc := run([]string{"tls", "status", "--data", cfg.Data}, strings.NewReader(""), &out, &errb); rc != 0 {
		t.Fatalf("tls status: rc %d, %s", rc, errb.String())
	}
	for _, want := range []string{"NAME", "EXPIRES", "LAST ERROR", host, "self-signed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tls status (live) lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "no server running") {
		t.Errorf("tls status did not go through the running server:\n%s", out.String())
	}
	ts.stop()
	out.Reset()
	if rc := run([]string{"tls", "status", "--data", cfg.Data}, strings.NewReader(""), &out, &errb); rc != 0 {
		t.Fatalf("tls status (no server): rc %d, %s", rc, errb.String())
	}
	for _, want := range []string{"no server running", host, "self-signed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tls status (file) lacks %q:\n%s", want, out.String())
		}
	}
	if rc := run([]string{"tls", "status", "extra", "--data", cfg.Data}, strings.NewReader(""), &out, &errb); rc == 0 {
		t.Error("tls status with an argument succeeded")
	}
}
