package acme

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
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
