package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	netsmtp "net/smtp"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/acme"
	"github.com/authsmtp/authsmtp/internal/cli"
	"github.com/authsmtp/authsmtp/internal/config"
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
func tlsTestConfig(t *testing.T, host string) config.Config {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.Hostname = host
	for _, p := range []*string{&cfg.Submission, &cfg.Submissions, &cfg.MX, &cfg.IMAP, &cfg.IMAPS, &cfg.HTTPS, &cfg.HTTP} {
		*p = "127.0.0.1:0"
	}
	cfg.Capture = true
	return cfg
}

func startTestServer(t *testing.T, cfg config.Config, tune func(*acme.Config)) *testServer {
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

// TestServerFilesModeSMTP: with --tls files, replacing the files changes
// the certificate of the next STARTTLS and implicit-TLS handshake.
func TestServerFilesModeSMTP(t *testing.T) {
	t.Parallel()
	host := "files.authsmtp.test"
	cfg := tlsTestConfig(t, host)
	dir := t.TempDir()
	cfg.TLSMode, cfg.TLSCert, cfg.TLSKey = acme.ModeFiles, filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	first := testutil.WriteCertFiles(t, cfg.TLSCert, cfg.TLSKey, host)
	ts := startTestServer(t, cfg, nil)
	if got := startTLSLeaf(t, ts.addr(t, "submission"), host, first.Pool); got.SerialNumber.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Fatalf("STARTTLS serves serial %v, want %v", got.SerialNumber, first.Leaf.SerialNumber)
	}
	second := testutil.WriteCertFiles(t, cfg.TLSCert, cfg.TLSKey, host)
	if got := startTLSLeaf(t, ts.addr(t, "submission"), host, second.Pool); got.SerialNumber.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Errorf("STARTTLS after replacing the files serves serial %v, want %v", got.SerialNumber, second.Leaf.SerialNumber)
	}
	if got := testutil.ImplicitTLSLeaf(t, ts.addr(t, "submissions"), host, second.Pool); got.SerialNumber.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Errorf("465 after replacing the files serves serial %v, want %v", got.SerialNumber, second.Leaf.SerialNumber)
	}
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
	if rc := cli.Main([]string{"tls", "status", "--data", cfg.Data}, strings.NewReader(""), &out, &errb); rc != 0 {
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
	if rc := cli.Main([]string{"tls", "status", "--data", cfg.Data}, strings.NewReader(""), &out, &errb); rc != 0 {
		t.Fatalf("tls status (no server): rc %d, %s", rc, errb.String())
	}
	for _, want := range []string{"no server running", host, "self-signed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tls status (file) lacks %q:\n%s", want, out.String())
		}
	}
	if rc := cli.Main([]string{"tls", "status", "extra", "--data", cfg.Data}, strings.NewReader(""), &out, &errb); rc == 0 {
		t.Error("tls status with an argument succeeded")
	}
}
