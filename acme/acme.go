// Package acme is the one certificate source of every TLS listener: it
// gives out tls.Configs whose GetCertificate always returns the current
// certificate, from a self-signed certificate kept in the store, from
// files, or (mode acme) from certmagic.
package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// Modes of --tls.
const (
	ModeACME       = "acme"
	ModeSelfSigned = "self-signed"
	ModeFiles      = "files"
)

// Config chooses and tunes the certificate source.
type Config struct {
	Mode     string // acme, self-signed, files; "" picks acme for a public Hostname
	Hostname string
	CertFile string
	KeyFile  string
	Logger   *slog.Logger
}

// Manager hands out the current certificate.
type Manager struct {
	cfg  Config
	st   *store.Store
	log  *slog.Logger
	mu   sync.RWMutex
	cert *tls.Certificate
}

// New sets up the certificate source and loads or makes a first certificate.
func New(cfg Config, st *store.Store) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeSelfSigned
		if cfg.CertFile != "" {
			cfg.Mode = ModeFiles
		}
	}
	m := &Manager{cfg: cfg, st: st, log: cfg.Logger}
	switch cfg.Mode {
	case ModeFiles:
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, errors.New("--tls files needs --tls-cert and --tls-key")
		}
		c, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading certificate %s / %s: %w", cfg.CertFile, cfg.KeyFile, err)
		}
		m.cert = &c
	case ModeSelfSigned, ModeACME:
		c, err := m.selfSigned()
		if err != nil {
			return nil, err
		}
		m.cert = c
	default:
		return nil, fmt.Errorf("unknown --tls mode %q: use acme, self-signed or files", cfg.Mode)
	}
	return m, nil
}

// Mode is the certificate source in use.
func (m *Manager) Mode() string { return m.cfg.Mode }

// GetCertificate returns the current certificate for any SNI name; mail
// clients often send none.
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cert, nil
}

// TLSConfig returns a server tls.Config offering exactly the given ALPN
// protocols (none for mail ports, so a browser cannot be bounced onto
// SMTP or IMAP: ALPACA).
func (m *Manager) TLSConfig(alpn ...string) *tls.Config {
	return &tls.Config{
		GetCertificate: m.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     alpn,
	}
}

const selfSignedKey = "selfsigned/cert+key.pem"

// selfSigned loads the stored self-signed certificate, or makes a new one
// when there is none or it expires within 30 days.
func (m *Manager) selfSigned() (*tls.Certificate, error) {
	if raw, err := m.st.CertGet(selfSignedKey); err == nil {
		if c, err := tls.X509KeyPair(raw, raw); err == nil && c.Leaf != nil &&
			time.Until(c.Leaf.NotAfter) > 30*24*time.Hour && c.Leaf.VerifyHostname(m.hostname()) == nil {
			return &c, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	host := m.hostname()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"authsmtp self-signed"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(397 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{host, "localhost"},
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
	raw = append(raw, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})...)
	if err := m.st.CertPut(selfSignedKey, raw); err != nil {
		return nil, fmt.Errorf("storing self-signed certificate: %w", err)
	}
	c, err := tls.X509KeyPair(raw, raw)
	if err != nil {
		return nil, err
	}
	m.log.Info("made a self-signed certificate", "name", host, "expires", tmpl.NotAfter.Format("2006-01-02"))
	return &c, nil
}

func (m *Manager) hostname() string {
	if m.cfg.Hostname != "" {
		return m.cfg.Hostname
	}
	return "localhost"
}
