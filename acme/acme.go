// Package acme is the one certificate source of every TLS listener: it
// gives out tls.Configs whose GetCertificate always returns the current
// certificate, so a renewed or replaced certificate is served on the next
// handshake without a restart.
//
// Three sources, chosen by --tls:
//
//   - acme: certmagic obtains and renews certificates for the configured
//     names only (--hostname and, with --acme-domains, mail.<d> and
//     autoconfig.<d> of hosted domains). Its storage is the store's certs
//     bucket (see Storage), so certificates and accounts survive restarts.
//     Until a name has a certificate (or while the CA fails) the stored
//     self-signed certificate is served and Status says why.
//   - self-signed: made once, kept in the store, re-made before expiry.
//   - files: --tls-cert/--tls-key, re-read when the files change (checked
//     on every handshake: two stats, cheap next to the handshake).
//
// A handshake never starts an ACME order: unknown SNI names get the
// hostname's certificate. Mail listeners' configs refuse the web's ALPN
// protocols (ALPACA); only the HTTPS config answers TLS-ALPN-01.
package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
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
	CertFile string // files mode
	KeyFile  string

	// ACME (mode acme).
	CA         string // directory URL; "" is Let's Encrypt production
	Staging    bool   // use Let's Encrypt's staging CA instead of CA
	Email      string
	EABKeyID   string // external account binding, for CAs that need it
	EABHMAC    string // base64url HMAC key
	CARootFile string // PEM file of the CA's TLS root (private CAs)
	// CARoots is trusted for the CA's TLS in addition to CARootFile (tests).
	CARoots *x509.CertPool
	// Domains adds mail.<d> and autoconfig.<d> of every hosted domain.
	Domains bool
	// HostedDomains lists the hosted domains; read at Start and Reload.
	HostedDomains func() ([]string, error)

	// Renewal tuning; zero means certmagic's defaults (tests shorten them).
	RenewCheckInterval time.Duration
	RenewalWindowRatio float64

	// OnChange, if set, is told about certificate events ("obtained",
	// "renewed", "loaded", "failed") for a name, e.g. to refresh a dashboard.
	OnChange func(event, name string)

	Logger *slog.Logger
}

// Manager hands out the current certificate.
type Manager struct {
	cfg Config
	st  CertStore
	log *slog.Logger

	mu       sync.RWMutex
	self     *tls.Certificate // self-signed: the certificate, or acme's fallback
	files    *filesState      // files mode
	names    []string         // acme: managed names, hostname first
	errs     map[string]nameErr
	httpAddr net.Addr // where --http and --https really listen (ACME challenges)
	tlsAddr  net.Addr

	selfMu sync.Mutex // one self-signed renewal at a time

	magic   magicPtr // acme mode, set by Start
	started bool
}

type nameErr struct {
	Err string
	At  time.Time
}

// New sets up the certificate source and loads or makes a first
// certificate. In acme mode nothing is requested before Start.
func New(cfg Config, st CertStore) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Hostname = normName(cfg.Hostname)
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	if cfg.Mode == "" {
		cfg.Mode = defaultMode(cfg)
	}
	m := &Manager{cfg: cfg, st: st, log: cfg.Logger, errs: map[string]nameErr{}}
	switch cfg.Mode {
	case ModeFiles:
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, errors.New("--tls files needs --tls-cert and --tls-key")
		}
		fs, err := loadFiles(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, err
		}
		m.files = fs
		if leaf := fs.cert.Leaf; leaf != nil && leaf.VerifyHostname(cfg.Hostname) != nil {
			m.log.Warn("the certificate file does not cover --hostname: clients checking the name will refuse it",
				"hostname", cfg.Hostname, "names", leaf.DNSNames, "cert", cfg.CertFile)
		}
		if leaf := fs.cert.Leaf; leaf != nil && time.Now().After(leaf.NotAfter) {
			m.log.Warn("the certificate file has expired", "cert", cfg.CertFile, "expired", leaf.NotAfter.Format(time.RFC3339))
		}
	case ModeSelfSigned:
		c, err := m.selfSigned()
		if err != nil {
			return nil, err
		}
		m.self = c
	case ModeACME:
		if !certmagic.SubjectQualifiesForCert(cfg.Hostname) || net.ParseIP(cfg.Hostname) != nil {
			return nil, fmt.Errorf("--tls acme: %q is not a DNS name a CA can certify: set --hostname to this server's public name", cfg.Hostname)
		}
		if m.publicCA() && !isPublicName(cfg.Hostname) {
			return nil, fmt.Errorf("--tls acme: Let's Encrypt cannot certify %q, which is not a public DNS name: set --hostname to this server's public name, or use --tls self-signed", cfg.Hostname)
		}
		c, err := m.selfSigned()
		if err != nil {
			return nil, err
		}
		m.self = c
		if err := m.newMagic(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown --tls mode %q: use acme, self-signed or files", cfg.Mode)
	}
	return m, nil
}

// defaultMode is files when a certificate file is given, acme for a
// public DNS hostname, and self-signed otherwise.
func defaultMode(cfg Config) string {
	switch {
	case cfg.CertFile != "":
		return ModeFiles
	case isPublicName(cfg.Hostname):
		return ModeACME
	}
	return ModeSelfSigned
}

// isPublicName reports whether a public CA could certify name: a dotted
// DNS name outside the reserved and local-only top-level domains.
func isPublicName(name string) bool {
	if !strings.Contains(name, ".") || net.ParseIP(name) != nil || !certmagic.SubjectQualifiesForPublicCert(name) {
		return false
	}
	tld := name[strings.LastIndexByte(name, '.')+1:]
	switch tld {
	case "test", "example", "invalid", "localhost", "local", "lan", "home", "corp", "internal", "arpa", "localdomain":
		return false
	}
	return true
}

func normName(s string) string { return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".") }

// Mode is the certificate source in use.
func (m *Manager) Mode() string { return m.cfg.Mode }

// Listening tells the manager where a listener really listens: "http"
// and "https" are where ACME challenges are answered. serve calls it for
// every listener before Start.
func (m *Manager) Listening(service string, addr net.Addr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch service {
	case "http":
		m.httpAddr = addr
	case "https":
		m.tlsAddr = addr
	}
}

// Start begins certificate management (acme mode: load from the store or
// order, then renew in the background). Call it once the listeners are up,
// so the challenge ports are ours and never bound by certmagic.
func (m *Manager) Start(ctx context.Context) error {
	if m.cfg.Mode != ModeACME {
		m.saveNames([]string{m.cfg.Hostname}) // for `tls status` without a server
		return nil
	}
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return nil
	}
	m.started = true
	m.mu.Unlock()
	return m.startMagic(ctx)
}

// Stop ends background certificate work.
func (m *Manager) Stop() {
	if ms := m.magic.Load(); ms != nil {
		ms.stop()
	}
}

// Reload re-reads what can change at run time: the certificate files
// (files mode), the self-signed certificate's validity, and the list of
// managed names (acme mode, for domains added since). SIGHUP calls it.
func (m *Manager) Reload() error {
	switch m.cfg.Mode {
	case ModeFiles:
		return m.reloadFiles(true)
	case ModeSelfSigned:
		_, err := m.currentSelf()
		return err
	case ModeACME:
		if _, err := m.currentSelf(); err != nil {
			return err
		}
		return m.manageNames()
	}
	return nil
}

// GetCertificate returns the current certificate. SNI names that are not
// ours (and hellos without SNI: MTAs often send none) get the hostname's.
// It never starts an ACME order and never answers TLS-ALPN-01 challenges
// (only the HTTPS config does).
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	switch m.cfg.Mode {
	case ModeFiles:
		return m.filesCert()
	case ModeACME:
		if c := m.magicCert(hello.ServerName); c != nil {
			return c, nil
		}
	}
	return m.currentSelf()
}

// getCertificateWeb is GetCertificate for the HTTPS listener: it also
// answers TLS-ALPN-01 challenges (a hello offering only acme-tls/1).
func (m *Manager) getCertificateWeb(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if ms := m.magic.Load(); ms != nil && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == alpnACME {
		return ms.cfg.GetCertificate(hello)
	}
	return m.GetCertificate(hello)
}

const alpnACME = "acme-tls/1"

// isWebProto reports whether p is an ALPN protocol a mail listener must
// never agree to: a browser or a CA validator must not be bounced onto
// SMTP or IMAP.
func isWebProto(p string) bool {
	switch p {
	case "http/1.1", "http/1.0", "h2", "h3", "spdy/3", alpnACME:
		return true
	}
	return false
}

// TLSConfig returns a server tls.Config offering exactly the given ALPN
// protocols. With "http/1.1" or "h2" among them it is the HTTPS config and
// also answers TLS-ALPN-01 (acme-tls/1). Otherwise it is a mail config:
// hellos that offer a web protocol are refused (ALPACA), those that offer
// none (the usual mail client) are served.
func (m *Manager) TLSConfig(alpn ...string) *tls.Config {
	c := &tls.Config{
		GetCertificate: m.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     slices.Clone(alpn),
	}
	if slices.Contains(alpn, "http/1.1") || slices.Contains(alpn, "h2") {
		c.GetCertificate = m.getCertificateWeb
		if m.cfg.Mode == ModeACME {
			c.NextProtos = append(c.NextProtos, alpnACME)
		}
		return c
	}
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		for _, p := range hello.SupportedProtos {
			if isWebProto(p) && !slices.Contains(alpn, p) {
				return nil, fmt.Errorf("refusing ALPN %q on a mail port", p)
			}
		}
		return nil, nil
	}
	return c
}
