package acme

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writePair writes a fresh self-signed pair for host into dir/name.{crt,key}
// the way an ACME client replaces files: write aside, then rename over.
func writePair(t *testing.T, dir, host string) (certFile, keyFile string, leaf *x509.Certificate) {
	t.Helper()
	raw, err := makeSelfSigned(host, time.Now(), 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(raw, raw)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeSplit(t, raw, certFile, keyFile)
	return certFile, keyFile, c.Leaf
}

// writeSplit writes the certificate and key parts of raw to their files.
func writeSplit(t testing.TB, raw []byte, certFile, keyFile string) {
	t.Helper()
	i := strings.Index(string(raw), "-----BEGIN EC PRIVATE KEY")
	for f, data := range map[string][]byte{certFile: raw[:i], keyFile: raw[i:]} {
		if err := os.WriteFile(f+".tmp", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f+".tmp", f); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFilesReplacedServedNextHandshake(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, first := writePair(t, dir, "files.authsmtp.test")
	r := newListeners(t)
	r.start(t, Config{Mode: ModeFiles, Hostname: "files.authsmtp.test", CertFile: certFile, KeyFile: keyFile}, openStore(t, t.TempDir()), true, true)
	leaf, err := handshake(r.ml.Addr().String(), "", nil, nil, "")
	if err != nil || leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("first handshake: %v, serial %v want %v", err, leaf.SerialNumber, first.SerialNumber)
	}
	_, _, second := writePair(t, dir, "files.authsmtp.test")
	for _, addr := range []string{r.ml.Addr().String(), r.httpsLn.Addr().String()} {
		leaf, err = handshake(addr, "", nil, nil, "")
		if err != nil || leaf.SerialNumber.Cmp(second.SerialNumber) != 0 {
			t.Fatalf("after replacing the files: %v, serial %v want %v", err, leaf.SerialNumber, second.SerialNumber)
		}
	}

	// A broken replacement (key of another certificate) keeps the last
	// good certificate and shows the error.
	other := t.TempDir()
	_, otherKey, _ := writePair(t, other, "x.authsmtp.test")
	key, _ := os.ReadFile(otherKey)
	os.WriteFile(keyFile+".tmp", key, 0o600)
	os.Rename(keyFile+".tmp", keyFile)
	leaf, err = handshake(r.ml.Addr().String(), "", nil, nil, "")
	if err != nil || leaf.SerialNumber.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("with a mismatched key: %v, serial %v want the previous %v", err, leaf.SerialNumber, second.SerialNumber)
	}
	st := r.m.Status()
	if len(st) != 1 || st[0].Source != ModeFiles || !contains(st[0].LastError, "private key does not match") {
		t.Errorf("status = %+v, want files with the load error", st)
	}
	if err := r.m.Reload(); err == nil {
		t.Error("Reload of a mismatched pair succeeded")
	}
	_, _, third := writePair(t, dir, "files.authsmtp.test")
	if err := r.m.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	leaf, err = handshake(r.ml.Addr().String(), "", nil, nil, "")
	if err != nil || leaf.SerialNumber.Cmp(third.SerialNumber) != 0 {
		t.Fatalf("after fixing the files: %v, serial %v want %v", err, leaf.SerialNumber, third.SerialNumber)
	}
}

func TestFilesModeErrors(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	defer st.Close()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate"), 0o600)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Mode: ModeFiles, CertFile: filepath.Join(dir, "none.crt"), KeyFile: filepath.Join(dir, "none.key")}, "--tls-cert"},
		{Config{Mode: ModeFiles, CertFile: garbage}, "needs --tls-cert and --tls-key"},
		{Config{Mode: ModeFiles, CertFile: garbage, KeyFile: garbage}, "loading certificate"},
		{Config{Mode: "letsencrypt"}, "unknown --tls mode"},
		{Config{Mode: ModeACME, Hostname: "127.0.0.1"}, "not a DNS name"},
		{Config{Mode: ModeACME, Hostname: "bad*name.test"}, "not a DNS name"},
		{Config{Mode: ModeACME, Hostname: "ok.authsmtp.test", CA: "https://ca.test/dir", CARootFile: garbage}, "no PEM certificate"},
		{Config{Mode: ModeACME, Hostname: "mail.example.test"}, "not a public DNS name"},
		{Config{Mode: ModeACME, Hostname: "localhost", Staging: true}, "not a public DNS name"},
	} {
		_, err := New(tc.cfg, st)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

// TestSelfSignedKeptAndRenewed: made once and kept across restarts,
// re-made when it nears expiry, both at start and while running.
func TestSelfSignedKeptAndRenewed(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	defer st.Close()
	cfg := Config{Mode: ModeSelfSigned, Hostname: "Self.Authsmtp.Test.", Logger: testLogger(t)}
	m1, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := m1.GetCertificate(&tls.ClientHelloInfo{})
	m2, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := m2.GetCertificate(&tls.ClientHelloInfo{ServerName: "other.example"})
	if c1.Leaf.SerialNumber.Cmp(c2.Leaf.SerialNumber) != 0 {
		t.Error("a restart made a new self-signed certificate")
	}
	if c1.Leaf.VerifyHostname("self.authsmtp.test") != nil {
		t.Errorf("self-signed names %v, want the hostname", c1.Leaf.DNSNames)
	}

	// Stored one that expires in 10 days: re-made at start.
	old, _ := makeSelfSigned("self.authsmtp.test", time.Now().Add(-380*24*time.Hour), 390*24*time.Hour)
	st.CertPut(selfSignedKey, old)
	m3, _ := New(cfg, st)
	c3, _ := m3.GetCertificate(&tls.ClientHelloInfo{})
	if time.Until(c3.Leaf.NotAfter) < 300*24*time.Hour {
		t.Errorf("near-expiry self-signed kept at start: expires %v", c3.Leaf.NotAfter)
	}

	// While running: the served one nears expiry → next handshake re-makes it.
	oc, _ := tls.X509KeyPair(old, old)
	m3.mu.Lock()
	m3.self = &oc
	m3.mu.Unlock()
	c4, _ := m3.GetCertificate(&tls.ClientHelloInfo{})
	if c4.Leaf.SerialNumber.Cmp(oc.Leaf.SerialNumber) == 0 || time.Until(c4.Leaf.NotAfter) < 300*24*time.Hour {
		t.Errorf("running manager served the expiring certificate (expires %v)", c4.Leaf.NotAfter)
	}
	if s := m3.Status(); len(s) != 1 || s[0].Source != ModeSelfSigned || s[0].Issuer != "self.authsmtp.test" {
		t.Errorf("status = %+v", s)
	}
}

func TestDefaultMode(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Hostname: "mail.example.com"}, ModeACME},
		{Config{Hostname: "mx1.my-host.de"}, ModeACME},
		{Config{Hostname: "localhost"}, ModeSelfSigned},
		{Config{Hostname: "myhost"}, ModeSelfSigned},
		{Config{Hostname: "mail.example.test"}, ModeSelfSigned},
		{Config{Hostname: "box.local"}, ModeSelfSigned},
		{Config{Hostname: "box.lan"}, ModeSelfSigned},
		{Config{Hostname: "nas.home.arpa"}, ModeSelfSigned},
		{Config{Hostname: "203.0.113.5"}, ModeSelfSigned},
		{Config{Hostname: "10.0.0.1"}, ModeSelfSigned},
		{Config{Hostname: "mail.example.com", CertFile: "/x.pem"}, ModeFiles},
	} {
		if got := defaultMode(tc.cfg); got != tc.want {
			t.Errorf("defaultMode(%q) = %s, want %s", tc.cfg.Hostname, got, tc.want)
		}
	}
}

// TestMailConfigALPN: mail configs refuse web ALPN offers (ALPACA) in
// every mode; the HTTPS config negotiates h2 / http/1.1.
func TestMailConfigALPN(t *testing.T) {
	t.Parallel()
	r := newListeners(t)
	r.start(t, Config{Mode: ModeSelfSigned, Hostname: "alpn.authsmtp.test"}, openStore(t, t.TempDir()), true, true)
	for _, alpn := range [][]string{{"http/1.1"}, {"h2"}, {"acme-tls/1"}, {"imap", "http/1.1"}} {
		if _, err := handshake(r.ml.Addr().String(), "", alpn, nil, ""); err == nil {
			t.Errorf("mail port accepted ALPN %v", alpn)
		}
	}
	if _, err := handshake(r.ml.Addr().String(), "", []string{"imap"}, nil, ""); err != nil {
		t.Errorf("mail port refused a non-web ALPN offer: %v", err)
	}
	c, err := tls.Dial("tcp", r.httpsLn.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("https negotiated %q", p)
	}
	c.Close()
	// Outside acme mode the HTTPS port does not speak acme-tls/1.
	if cfg := r.m.TLSConfig("h2", "http/1.1"); len(cfg.NextProtos) != 2 {
		t.Errorf("https NextProtos = %v", cfg.NextProtos)
	}
}

// TestWantedNames: hosted domains add mail.<d> and autoconfig.<d>, and
// with Let's Encrypt names it would refuse are left out.
func TestWantedNames(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	defer st.Close()
	hosted := func() ([]string, error) { return []string{"Example.COM", "lab.test", "shop.example.org"}, nil }
	m, err := New(Config{Mode: ModeACME, Hostname: "mx.example.com", Domains: true, HostedDomains: hosted, Logger: testLogger(t)}, st)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mx.example.com", "mail.example.com", "autoconfig.example.com", "mail.shop.example.org", "autoconfig.shop.example.org"}
	if got := m.wantedNames(); !slices.Equal(got, want) {
		t.Errorf("with Let's Encrypt: %v, want %v", got, want)
	}
	m2, _ := New(Config{Mode: ModeACME, Hostname: "mx.example.com", CA: "https://ca.lab.test/dir", Domains: true, HostedDomains: hosted, Logger: testLogger(t)}, st)
	if got := m2.wantedNames(); len(got) != 7 || !slices.Contains(got, "mail.lab.test") {
		t.Errorf("with a private CA: %v, want lab.test names too", got)
	}
	m3, _ := New(Config{Mode: ModeACME, Hostname: "mx.example.com", HostedDomains: hosted, Logger: testLogger(t)}, st)
	if got := m3.wantedNames(); !slices.Equal(got, []string{"mx.example.com"}) {
		t.Errorf("without --acme-domains: %v", got)
	}
}
