package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

const selfSignedKey = "selfsigned/cert+key.pem"

// selfRenewBefore is how long before expiry a self-signed certificate is
// re-made; it is valid for selfLifetime.
const (
	selfRenewBefore = 30 * 24 * time.Hour
	selfLifetime    = 397 * 24 * time.Hour
)

// currentSelf returns the self-signed certificate, re-making it first
// when it is about to expire (checked on each use: one time comparison).
func (m *Manager) currentSelf() (*tls.Certificate, error) {
	m.mu.RLock()
	c := m.self
	m.mu.RUnlock()
	if c != nil && c.Leaf != nil && time.Until(c.Leaf.NotAfter) > selfRenewBefore {
		return c, nil
	}
	m.selfMu.Lock()
	defer m.selfMu.Unlock()
	m.mu.RLock()
	c = m.self
	m.mu.RUnlock()
	if c != nil && c.Leaf != nil && time.Until(c.Leaf.NotAfter) > selfRenewBefore {
		return c, nil // another handshake renewed it meanwhile
	}
	nc, err := m.selfSigned()
	if err != nil {
		if c != nil {
			m.log.Error("renewing the self-signed certificate", "err", err)
			return c, nil
		}
		return nil, err
	}
	m.mu.Lock()
	m.self = nc
	m.mu.Unlock()
	return nc, nil
}

// selfSigned loads the stored self-signed certificate, or makes and
// stores a new one when there is none, it expires within selfRenewBefore,
// or it does not cover the hostname.
func (m *Manager) selfSigned() (*tls.Certificate, error) {
	host := m.cfg.Hostname
	if raw, err := m.st.CertGet(selfSignedKey); err == nil {
		if c, err := tls.X509KeyPair(raw, raw); err == nil && c.Leaf != nil &&
			time.Until(c.Leaf.NotAfter) > selfRenewBefore && c.Leaf.VerifyHostname(host) == nil {
			return &c, nil
		}
	}
	raw, err := makeSelfSigned(host, time.Now(), selfLifetime)
	if err != nil {
		return nil, fmt.Errorf("making a self-signed certificate: %w", err)
	}
	if err := m.st.CertPut(selfSignedKey, raw); err != nil {
		return nil, fmt.Errorf("storing self-signed certificate: %w", err)
	}
	c, err := tls.X509KeyPair(raw, raw)
	if err != nil {
		return nil, fmt.Errorf("loading the new self-signed certificate: %w", err)
	}
	m.log.Info("made a self-signed certificate", "name", host, "expires", c.Leaf.NotAfter.Format("2006-01-02"))
	return &c, nil
}

// makeSelfSigned returns PEM of a certificate and its key for host (and
// localhost, 127.0.0.1, ::1) valid from now-1h for lifetime.
func makeSelfSigned(host string, now time.Time, lifetime time.Duration) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	names := []string{host}
	if host != "localhost" {
		names = append(names, "localhost")
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"authsmtp self-signed"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(lifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	raw := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(raw, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})...), nil
}
