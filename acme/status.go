package acme

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// CertStatus describes the certificate served for one name.
type CertStatus struct {
	Name      string    `json:"name"`
	Source    string    `json:"source"` // acme, self-signed, files
	Issuer    string    `json:"issuer"` // the certificate's issuer CN (or O)
	NotAfter  time.Time `json:"not_after"`
	LastError string    `json:"last_error,omitempty"`
	ErrorAt   time.Time `json:"error_at,omitzero"`
}

// Keys of this package's own records in the certs bucket.
const (
	statusErrPrefix = "authsmtp/tls-error/" // + name → nameErr JSON
	statusNamesKey  = "authsmtp/tls-names"  // storedNames JSON
)

// storedNames is what the last server served, for ReadStatus.
type storedNames struct {
	Mode     string   `json:"mode"`
	Names    []string `json:"names"`
	CertFile string   `json:"cert_file,omitempty"` // files mode
}

func (m *Manager) saveNames(names []string) {
	b, _ := json.Marshal(storedNames{Mode: m.cfg.Mode, Names: names, CertFile: m.cfg.CertFile})
	if err := m.st.CertPut(statusNamesKey, b); err != nil {
		m.log.Warn("storing certificate names", "err", err)
	}
}

// Status lists each name with the certificate served for it now, its
// issuer and expiry, and the last error getting one.
func (m *Manager) Status() []CertStatus {
	switch m.cfg.Mode {
	case ModeFiles:
		m.mu.RLock()
		fs := m.files
		m.mu.RUnlock()
		st := leafStatus(m.cfg.Hostname, ModeFiles, fs.cert.Leaf)
		st.LastError, st.ErrorAt = fs.loadErr, fs.loadErrAt
		if fs.cert.Leaf != nil && len(fs.cert.Leaf.DNSNames) > 0 {
			st.Name = strings.Join(fs.cert.Leaf.DNSNames, ",")
		}
		return []CertStatus{st}
	case ModeSelfSigned:
		c, _ := m.currentSelf()
		return []CertStatus{leafStatus(m.cfg.Hostname, ModeSelfSigned, leafOf(c))}
	}
	m.mu.RLock()
	names := m.names
	if len(names) == 0 {
		names = []string{m.cfg.Hostname}
	}
	errs := make(map[string]nameErr, len(m.errs))
	for k, v := range m.errs {
		errs[k] = v
	}
	m.mu.RUnlock()
	out := make([]CertStatus, 0, len(names))
	for _, n := range names {
		var st CertStatus
		if c := m.magicCert(n); c != nil {
			st = leafStatus(n, ModeACME, leafOf(c))
		} else {
			self, _ := m.currentSelf()
			st = leafStatus(n, ModeSelfSigned, leafOf(self))
			if _, failed := errs[n]; !failed {
				st.LastError = "no certificate from the CA yet (waiting for the first order)"
			}
		}
		if e, ok := errs[n]; ok {
			st.LastError, st.ErrorAt = e.Err, e.At
		}
		out = append(out, st)
	}
	return out
}

func leafOf(c *tls.Certificate) *x509.Certificate {
	if c == nil {
		return nil
	}
	if c.Leaf == nil && len(c.Certificate) > 0 {
		c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	return c.Leaf
}

func leafStatus(name, source string, leaf *x509.Certificate) CertStatus {
	st := CertStatus{Name: name, Source: source}
	if leaf != nil {
		st.NotAfter = leaf.NotAfter
		st.Issuer = leaf.Issuer.CommonName
		if st.Issuer == "" && len(leaf.Issuer.Organization) > 0 {
			st.Issuer = leaf.Issuer.Organization[0]
		}
	}
	return st
}

// ReadStatus reports from the store alone (no server running): the names
// the last server managed, the newest stored ACME certificate for each,
// the self-signed certificate, and the last stored errors.
func ReadStatus(st CertStore) ([]CertStatus, error) {
	var sn storedNames
	if b, err := st.CertGet(statusNamesKey); err == nil {
		json.Unmarshal(b, &sn)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	switch sn.Mode {
	case ModeFiles:
		return []CertStatus{fileStatus(sn)}, nil
	case ModeSelfSigned:
		var leaf *x509.Certificate
		if raw, err := st.CertGet(selfSignedKey); err == nil {
			if c, err := tls.X509KeyPair(raw, raw); err == nil {
				leaf = c.Leaf
			}
		}
		return []CertStatus{leafStatus(firstName(sn.Names), ModeSelfSigned, leaf)}, nil
	}
	// Newest stored ACME certificate per name.
	acmeLeaf := map[string]*x509.Certificate{}
	keys, err := st.CertList(storagePrefix + "certificates/")
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if !strings.HasSuffix(k, ".crt") {
			continue
		}
		raw, err := st.CertGet(k)
		if err != nil {
			continue
		}
		blk, _ := pem.Decode(raw)
		if blk == nil {
			continue
		}
		leaf, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			continue
		}
		for _, n := range leaf.DNSNames {
			if old := acmeLeaf[n]; old == nil || leaf.NotAfter.After(old.NotAfter) {
				acmeLeaf[n] = leaf
			}
		}
	}
	var self *x509.Certificate
	if raw, err := st.CertGet(selfSignedKey); err == nil {
		if c, err := tls.X509KeyPair(raw, raw); err == nil {
			self = c.Leaf
		}
	}
	names := sn.Names
	for n := range acmeLeaf {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 && self != nil {
		names = append(names, self.Subject.CommonName)
	}
	var out []CertStatus
	for _, n := range names {
		var cs CertStatus
		if leaf := acmeLeaf[n]; leaf != nil {
			cs = leafStatus(n, ModeACME, leaf)
		} else {
			cs = leafStatus(n, ModeSelfSigned, self)
		}
		if b, err := st.CertGet(statusErrPrefix + n); err == nil {
			var ne nameErr
			if json.Unmarshal(b, &ne) == nil {
				cs.LastError, cs.ErrorAt = ne.Err, ne.At
			}
		}
		out = append(out, cs)
	}
	return out, nil
}

// fileStatus reads the certificate file the last server used.
func fileStatus(sn storedNames) CertStatus {
	name := firstName(sn.Names)
	cs := CertStatus{Name: name, Source: ModeFiles}
	raw, err := os.ReadFile(sn.CertFile)
	if err != nil {
		cs.LastError = err.Error()
		return cs
	}
	blk, _ := pem.Decode(raw)
	if blk == nil {
		cs.LastError = sn.CertFile + ": no PEM certificate"
		return cs
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		cs.LastError = sn.CertFile + ": " + err.Error()
		return cs
	}
	return leafStatus(name, ModeFiles, leaf)
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}
