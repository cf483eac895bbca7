package acme

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/authsmtp/authsmtp/store"
)

// CertStore is what the certificate source needs of the store: a small
// key-value space for certificates and keys, and named locks with an
// expiry so that only one process orders a certificate at a time. The
// bbolt store implements it; another backend must too.
type CertStore interface {
	CertGet(key string) ([]byte, error)
	CertPut(key string, value []byte) error
	CertDelete(key string) error
	CertList(prefix string) ([]string, error)
	CertStat(key string) (size int64, mtime time.Time, err error)
	CertTryLock(name, owner string, ttl time.Duration) (bool, error)
	CertRefreshLock(name, owner string, ttl time.Duration) error
	CertUnlock(name, owner string) error
}

// Storage is certmagic's Storage on the bbolt store: certificates, keys
// and ACME accounts live in the certs bucket under "certmagic/", in the
// same file as everything else, so they survive restarts and backups
// without a second data directory.
type Storage struct {
	st CertStore

	// lockTTL is how long a stored lock lives without a refresh; a holder
	// refreshes it every lockTTL/3.
	lockTTL  time.Duration
	pollWait time.Duration

	mu    sync.Mutex
	held  map[string]heldLock // lock name → our token and refresher
	token func() string
}

type heldLock struct {
	owner string
	stop  chan struct{}
	done  chan struct{}
}

// storagePrefix keeps certmagic's keys apart from our own in the bucket.
const storagePrefix = "certmagic/"

// NewStorage returns the certmagic storage over st.
func NewStorage(st CertStore) *Storage {
	return &Storage{
		st:       st,
		lockTTL:  30 * time.Second,
		pollWait: 100 * time.Millisecond,
		held:     map[string]heldLock{},
		token:    func() string { return store.RandomToken(16) },
	}
}

// Interface guards: certmagic finds the optional ones by type assertion.
var (
	_ certmagic.Storage   = (*Storage)(nil)
	_ certmagic.TryLocker = (*Storage)(nil)
)

func bkey(key string) string { return storagePrefix + strings.Trim(key, "/") }

// Store puts value at key.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.st.CertPut(bkey(key), value); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// Load returns the value at key, or fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, err := s.st.CertGet(bkey(key))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("loading %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", key, err)
	}
	return v, nil
}

// Delete removes key and everything below it; a missing key is no error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.st.CertDelete(bkey(key))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	return nil
}

// Exists reports whether key is a file or a directory.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// List returns the keys directly below dir, or with recursive every key
// (files and directories) below it.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir = strings.Trim(dir, "/")
	prefix := storagePrefix
	if dir != "" {
		prefix += dir + "/"
	}
	keys, err := s.st.CertList(prefix)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		rest := strings.TrimPrefix(k, prefix)
		parts := strings.Split(rest, "/")
		n := 1
		if recursive {
			n = len(parts)
		}
		for i := 1; i <= n; i++ {
			name := strings.Join(parts[:i], "/")
			if dir != "" {
				name = dir + "/" + name
			}
			seen[name] = true
		}
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("listing %s: %w", dir, fs.ErrNotExist)
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Stat describes key: a file with its size and time, or a directory.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	if err := ctx.Err(); err != nil {
		return certmagic.KeyInfo{}, err
	}
	key = strings.Trim(key, "/")
	size, mtime, err := s.st.CertStat(bkey(key))
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: mtime, Size: size, IsTerminal: true}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	below, err := s.st.CertList(bkey(key) + "/")
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	if len(below) == 0 {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, fs.ErrNotExist)
	}
	return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
}

// Lock takes the named lock, waiting until it is free or ctx ends. The
// lock is a stored record with an expiry, refreshed while held, so a
// holder that died frees it after lockTTL.
func (s *Storage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil || ok {
			return err
		}
		t := time.NewTimer(s.pollWait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for certificate lock %s: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// TryLock takes the named lock if it is free.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	owner := s.token()
	ok, err := s.st.CertTryLock(name, owner, s.lockTTL)
	if err != nil || !ok {
		return false, err
	}
	h := heldLock{owner: owner, stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	s.held[name] = h
	s.mu.Unlock()
	go s.refresh(name, h)
	return true, nil
}

// refresh keeps a held lock from expiring until Unlock.
func (s *Storage) refresh(name string, h heldLock) {
	defer close(h.done)
	t := time.NewTicker(s.lockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			if err := s.st.CertRefreshLock(name, h.owner, s.lockTTL); err != nil {
				return
			}
		}
	}
}

// Unlock releases a lock taken by Lock or TryLock.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h, ok := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("unlocking %s: not held", name)
	}
	close(h.stop)
	<-h.done
	if err := s.st.CertUnlock(name, h.owner); err != nil {
		return fmt.Errorf("unlocking %s: %w", name, err)
	}
	return nil
}

// String names the storage in certmagic's logs.
func (s *Storage) String() string { return "authsmtp store certs bucket" }
