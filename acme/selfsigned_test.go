package acme

import (
	"crypto/tls"
	"testing"
	"time"
)

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
