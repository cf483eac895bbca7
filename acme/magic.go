package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
)

// magicState is certmagic as this package uses it: our own Cache and
// Config (never certmagic.Default: it would keep a global cache and files
// in the home directory), storage in the bbolt store, and one ACME issuer.
type magicState struct {
	cache  *certmagic.Cache
	cfg    *certmagic.Config
	issuer *certmagic.ACMEIssuer
	ctx    context.Context // background work; cancelled by stop
	// noListener: neither --http nor --https is on, so no challenge can
	// be answered and nothing is ordered.
	noListener bool
	cancel     context.CancelFunc
	once       sync.Once
}

func (s *magicState) stop() {
	s.once.Do(func() {
		s.cancel()
		s.cache.Stop()
	})
}

// newMagic checks the ACME settings early, so a bad flag fails serve at
// start and not in the background.
func (m *Manager) newMagic() error {
	_, err := m.caRoots()
	return err
}

func (m *Manager) caRoots() (*x509.CertPool, error) {
	pool := m.cfg.CARoots
	if m.cfg.CARootFile == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(m.cfg.CARootFile)
	if err != nil {
		return nil, fmt.Errorf("--acme-ca-root: %w", err)
	}
	if pool == nil {
		if pool, err = x509.SystemCertPool(); err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
	} else {
		pool = pool.Clone()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--acme-ca-root %s: no PEM certificate in it", m.cfg.CARootFile)
	}
	return pool, nil
}

// caURL is the ACME directory in use.
func (m *Manager) caURL() string {
	switch {
	case m.cfg.Staging:
		return certmagic.LetsEncryptStagingCA
	case m.cfg.CA == "":
		return certmagic.LetsEncryptProductionCA
	}
	return m.cfg.CA
}

// publicCA reports whether the CA is Let's Encrypt, which only certifies
// public DNS names.
func (m *Manager) publicCA() bool {
	ca := m.caURL()
	return ca == certmagic.LetsEncryptProductionCA || ca == certmagic.LetsEncryptStagingCA
}

// magicPtr is read by handshakes and HTTP requests while Start sets it.
type magicPtr = atomic.Pointer[magicState]

// startMagic builds certmagic once the listeners are known and starts
// managing the names in the background.
func (m *Manager) startMagic(ctx context.Context) error {
	roots, err := m.caRoots()
	if err != nil {
		return err
	}
	m.mu.RLock()
	httpAddr, tlsAddr := m.httpAddr, m.tlsAddr
	m.mu.RUnlock()

	ms := &magicState{}
	logger := zapToSlog(m.log)
	ms.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return ms.cfg, nil },
		RenewCheckInterval: m.cfg.RenewCheckInterval,
		Logger:             logger,
	})
	ms.cfg = certmagic.New(ms.cache, certmagic.Config{
		Storage:            NewStorage(m.st),
		DefaultServerName:  m.cfg.Hostname, // MTAs often send no SNI
		RenewalWindowRatio: m.cfg.RenewalWindowRatio,
		OnEvent:            m.onEvent,
		Logger:             logger,
	})
	ca := m.caURL()
	tmpl := certmagic.ACMEIssuer{
		CA:                      ca,
		TestCA:                  ca, // no separate test run against staging
		Email:                   m.cfg.Email,
		Agreed:                  true,
		TrustedRoots:            roots,
		DisableHTTPChallenge:    httpAddr == nil,
		DisableTLSALPNChallenge: tlsAddr == nil,
		Logger:                  logger,
	}
	// certmagic binds the challenge port itself unless something already
	// listens there; point it at our own listeners so it finds them busy
	// and leaves the answering to HTTPChallengeHandler and the HTTPS config.
	if httpAddr != nil {
		tmpl.ListenHost, tmpl.AltHTTPPort = hostPort(httpAddr)
	}
	if tlsAddr != nil {
		var host string
		host, tmpl.AltTLSALPNPort = hostPort(tlsAddr)
		if httpAddr == nil {
			tmpl.ListenHost = host
		}
	}
	if m.cfg.EABKeyID != "" || m.cfg.EABHMAC != "" {
		tmpl.ExternalAccount = &acme.EAB{KeyID: m.cfg.EABKeyID, MACKey: m.cfg.EABHMAC}
	}
	ms.issuer = certmagic.NewACMEIssuer(ms.cfg, tmpl)
	ms.cfg.Issuers = []certmagic.Issuer{ms.issuer}
	ms.ctx, ms.cancel = context.WithCancel(context.WithoutCancel(ctx))
	ms.noListener = httpAddr == nil && tlsAddr == nil
	m.magic.Store(ms)

	if ms.noListener {
		err := errors.New("no --http or --https listener to answer the CA's challenges on")
		m.setErr(m.cfg.Hostname, err)
		m.log.Error("cannot get certificates: serving self-signed", "err", err)
		return nil
	}
	// A failure here (before any ACME request) must not keep the mail
	// server down: serve self-signed and say why.
	if err := m.manageNames(); err != nil {
		m.setErr(m.cfg.Hostname, err)
		m.log.Error("cannot get certificates: serving self-signed", "err", err)
	}
	return nil
}

// hostPort splits a listener address for certmagic: an unspecified IP
// (0.0.0.0, ::) becomes "" so certmagic's probe dials the port on any
// address.
func hostPort(a net.Addr) (string, int) {
	host, port, _ := net.SplitHostPort(a.String())
	p, _ := strconv.Atoi(port)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = ""
	}
	return host, p
}

// manageNames (re)computes the configured names and asks certmagic to
// manage them: load from the store, or order, then keep renewed.
func (m *Manager) manageNames() error {
	ms := m.magic.Load()
	if ms == nil || ms.ctx.Err() != nil || ms.noListener {
		return nil // not started, stopped, or cannot be answered
	}
	names := m.wantedNames()
	m.mu.Lock()
	old := m.names
	m.names = names
	m.mu.Unlock()
	var dropped []certmagic.SubjectIssuer
	for _, n := range old {
		if !slices.Contains(names, n) {
			dropped = append(dropped, certmagic.SubjectIssuer{Subject: n})
		}
	}
	if len(dropped) > 0 {
		ms.cache.RemoveManaged(dropped)
	}
	m.saveNames(names)
	if err := ms.cfg.ManageAsync(ms.ctx, names); err != nil {
		return fmt.Errorf("managing certificates for %v: %w", names, err)
	}
	return nil
}

// wantedNames is the hostname and, with Domains, mail.<d>,
// autoconfig.<d> and mta-sts.<d> of each hosted domain.
func (m *Manager) wantedNames() []string {
	names := []string{m.cfg.Hostname}
	if !m.cfg.Domains || m.cfg.HostedDomains == nil {
		return names
	}
	ds, err := m.cfg.HostedDomains()
	if err != nil {
		m.log.Warn("listing hosted domains for certificates", "err", err)
		return names
	}
	for _, d := range ds {
		// mta-sts.<d> serves the domain's MTA-STS policy, which senders
		// fetch only over HTTPS with a valid certificate (RFC 8461 §3.3).
		for _, n := range []string{"mail." + normName(d), "autoconfig." + normName(d), "mta-sts." + normName(d)} {
			// A public CA would refuse (and rate-limit) local-only names.
			ok := certmagic.SubjectQualifiesForCert(n) && (!m.publicCA() || isPublicName(n))
			if ok && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// magicCert returns the managed certificate for the SNI name, or for the
// hostname when the name is not one of ours; nil when there is none yet.
// It only reads certmagic's cache: a handshake never causes an order.
func (m *Manager) magicCert(sni string) *tls.Certificate {
	ms := m.magic.Load()
	if ms == nil {
		return nil
	}
	name := normName(sni)
	m.mu.RLock()
	if !slices.Contains(m.names, name) {
		name = m.cfg.Hostname
	}
	m.mu.RUnlock()
	var best *certmagic.Certificate
	for _, c := range ms.cache.AllMatchingCertificates(name) {
		if c.Leaf == nil || time.Now().After(c.Leaf.NotAfter) {
			continue
		}
		if best == nil || c.Leaf.NotAfter.After(best.Leaf.NotAfter) {
			best = &c
		}
	}
	if best == nil {
		return nil
	}
	return &best.Certificate
}

// HTTPChallengeHandler answers ACME HTTP-01 challenges on the --http
// listener and passes every other request to next.
func (m *Manager) HTTPChallengeHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ms := m.magic.Load(); ms != nil && ms.issuer.HandleHTTPChallenge(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// onEvent records certmagic's outcomes for Status and logs the ones an
// operator needs, one line each.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	switch event {
	case "cert_obtained":
		renewal, _ := data["renewal"].(bool)
		m.clearErr(name)
		what := "obtained a certificate"
		if renewal {
			what = "renewed the certificate"
		}
		m.log.Info(what, "name", name, "issuer", data["issuer"])
		if renewal {
			m.changed("renewed", name)
		} else {
			m.changed("obtained", name)
		}
	case "cached_managed_cert":
		if sans, ok := data["sans"].([]string); ok {
			for _, n := range sans {
				m.clearErr(n)
				m.changed("loaded", n)
			}
		}
	case "cert_failed":
		err, _ := data["error"].(error)
		if err == nil {
			err = errors.New("unknown error")
		}
		if m.setErr(name, err) {
			m.log.Warn("could not get a certificate: serving self-signed meanwhile, retrying with backoff",
				"name", name, "ca", m.caURL(), "err", err)
		} else {
			m.log.Debug("certificate request failed again", "name", name, "err", err)
		}
		m.changed("failed", name)
	}
	return nil
}

// setErr records the last error for name (in memory and in the store, for
// `authsmtp tls status` without a server). It reports whether it is new.
func (m *Manager) setErr(name string, err error) bool {
	ne := nameErr{Err: err.Error(), At: time.Now().UTC()}
	m.mu.Lock()
	prev, had := m.errs[name]
	m.errs[name] = ne
	m.mu.Unlock()
	if b, jerr := json.Marshal(ne); jerr == nil {
		if perr := m.st.CertPut(statusErrPrefix+name, b); perr != nil {
			m.log.Warn("storing certificate status", "name", name, "err", perr)
		}
	}
	return !had || prev.Err != ne.Err
}

func (m *Manager) clearErr(name string) {
	m.mu.Lock()
	delete(m.errs, name)
	m.mu.Unlock()
	// Also an error stored by an earlier run; a missing key is fine.
	m.st.CertDelete(statusErrPrefix + name)
}

func (m *Manager) changed(event, name string) {
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(event, name)
	}
}
