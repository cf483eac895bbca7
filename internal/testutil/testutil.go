// Package testutil holds helpers shared by authsmtp's tests: a real store
// in a temporary directory, a throwaway TLS certificate, and the rule for
// outside tools (skip when missing, but fail under CI=true).
package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// Store opens a fresh store in t.TempDir(), closed at cleanup.
func Store(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{Logger: Logger(t)})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Logger returns a logger that writes through t.Log when -v is given,
// and discards otherwise (keeps test output readable).
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Domain adds a domain with its password and the SMTP switch on (when
// smtp is true).
func Domain(t testing.TB, st *store.Store, name, password string, smtp bool) {
	t.Helper()
	if _, err := st.AddDomain(name); err != nil {
		t.Fatalf("adding domain %s: %v", name, err)
	}
	if err := st.SetDomainPassword(name, password); err != nil {
		t.Fatalf("setting domain password: %v", err)
	}
	if smtp {
		if err := st.SetDomainSwitch(name, "smtp", true); err != nil {
			t.Fatalf("enabling smtp: %v", err)
		}
	}
}

// User adds a user.
func User(t testing.TB, st *store.Store, address, password string) {
	t.Helper()
	if _, err := st.AddUser(address, password); err != nil {
		t.Fatalf("adding user %s: %v", address, err)
	}
}

var (
	certOnce sync.Once
	certVal  tls.Certificate
	certPool *x509.CertPool
)

// TLS returns a server config with a self-signed certificate for
// localhost and 127.0.0.1, and a client config that trusts it. The key is
// made once per test binary (read-only afterwards).
func TLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "localhost"},
			DNSNames:     []string{"localhost"},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IsCA:         true, BasicConstraintsValid: true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		leaf, _ := x509.ParseCertificate(der)
		certVal = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
		certPool = x509.NewCertPool()
		certPool.AddCert(leaf)
	})
	server = &tls.Config{Certificates: []tls.Certificate{certVal}, MinVersion: tls.VersionTLS12, NextProtos: []string{"smtp"}}
	client = &tls.Config{RootCAs: certPool, ServerName: "localhost"}
	return server, client
}

// InCI reports whether the tests run in CI (CI=true), where a missing
// outside tool is a failure, not a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// NeedTool returns the path of an outside tool, skipping the test when it
// is missing (failing it under CI=true).
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if InCI() {
			t.Fatalf("%s is required in CI but not installed (add it to .ci/run)", name)
		}
		t.Skipf("%s not installed: skipping (CI=true makes this a failure)", name)
	}
	return p
}

// RepoRoot is the repository's root: the nearest directory above the
// test's working directory that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}
