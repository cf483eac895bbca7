package acme

import (
	"crypto/tls"
	"fmt"
	"os"
	"time"
)

// filesState is the certificate of --tls files and what the two files
// looked like when it was read, so a change is seen on the next handshake.
type filesState struct {
	certFile, keyFile string
	cert              *tls.Certificate
	sig               fileSig // of the files the cert was read from
	badSig            fileSig // last change that failed to load (not retried)
	loadErr           string
	loadErrAt         time.Time
}

// fileSig identifies a version of the pair of files: a replaced (renamed
// over) or rewritten file changes its inode, size or modification time.
type fileSig struct {
	cert, key os.FileInfo
}

func statPair(certFile, keyFile string) (fileSig, error) {
	c, err := os.Stat(certFile)
	if err != nil {
		return fileSig{}, err
	}
	k, err := os.Stat(keyFile)
	if err != nil {
		return fileSig{}, err
	}
	return fileSig{c, k}, nil
}

func sameInfo(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func (s fileSig) same(o fileSig) bool { return sameInfo(s.cert, o.cert) && sameInfo(s.key, o.key) }

func loadFiles(certFile, keyFile string) (*filesState, error) {
	sig, err := statPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading certificate files: %w (check --tls-cert and --tls-key)", err)
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading certificate %s / %s: %w", certFile, keyFile, err)
	}
	return &filesState{certFile: certFile, keyFile: keyFile, cert: &c, sig: sig}, nil
}

// filesCert returns the files' certificate, re-reading them first if they
// changed since they were read.
func (m *Manager) filesCert() (*tls.Certificate, error) {
	if err := m.reloadFiles(false); err != nil {
		m.log.Debug("certificate files changed but did not load; serving the previous certificate", "err", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.files.cert, nil
}

// reloadFiles re-reads the files when they changed (or always, with
// force). A pair that fails to load (half-written, key not matching)
// leaves the previous certificate in use and the error in Status.
func (m *Manager) reloadFiles(force bool) error {
	m.mu.RLock()
	fs := m.files
	m.mu.RUnlock()
	sig, err := statPair(fs.certFile, fs.keyFile)
	if err == nil && !force && (sig.same(fs.sig) || sig.same(fs.badSig)) {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fs = m.files
	if err == nil && !force && (sig.same(fs.sig) || sig.same(fs.badSig)) {
		return nil // another handshake loaded it meanwhile
	}
	nfs, lerr := loadFiles(fs.certFile, fs.keyFile)
	if lerr != nil {
		bad := *fs
		bad.badSig = sig
		bad.loadErr = lerr.Error()
		bad.loadErrAt = time.Now()
		m.files = &bad
		if fs.loadErr == lerr.Error() {
			return lerr // said already
		}
		m.log.Warn("certificate files changed but could not be loaded; still serving the previous certificate", "err", lerr)
		return lerr
	}
	if !sig.same(fs.sig) || force {
		m.log.Info("loaded certificate files", "cert", fs.certFile, "expires", nfs.cert.Leaf.NotAfter.Format(time.RFC3339))
	}
	m.files = nfs
	return nil
}
