package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters: about 20-40 ms on one core, 19 MiB, in line with
// OWASP's minimum. The cache below keeps repeated logins from paying it.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// ErrEmptyPassword is returned when a password is empty or only space.
var ErrEmptyPassword = errors.New("the password is empty")

// HashPassword returns an argon2id hash in the PHC string format.
func HashPassword(pw string) (string, error) {
	if strings.TrimSpace(pw) == "" {
		return "", ErrEmptyPassword
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches hash. It always does the full
// work, also for an empty or malformed hash, so timing does not tell.
func CheckPassword(hash, pw string) bool {
	var m, t uint32
	var p uint8
	var saltB64, keyB64 string
	parts := strings.Split(hash, "$")
	ok := len(parts) == 6 && parts[1] == "argon2id"
	if ok {
		_, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p)
		ok = err == nil && m > 0 && m <= 1<<20 && t > 0 && t <= 16 && p > 0
		saltB64, keyB64 = parts[4], parts[5]
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(saltB64)
	want, err2 := base64.RawStdEncoding.DecodeString(keyB64)
	if !ok || err1 != nil || err2 != nil || len(want) == 0 {
		// Burn the same time as a real check.
		argon2.IDKey([]byte(pw), dummySalt, argonTime, argonMemory, argonThreads, argonKeyLen)
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

var dummySalt = []byte("authsmtp-dummy-s")

// authCache remembers recent successful checks, keyed by a SHA-256 of
// (login, stored hash, password), so a client that logs in again costs a
// map lookup instead of an argon2 run. Because the stored hash is part of
// the key, a password change makes old entries unreachable at once; Forget
// also drops them explicitly.
type authCache struct {
	mu      sync.Mutex
	entries map[[32]byte]time.Time
	ttl     time.Duration
	max     int
	// pool bounds the argon2 runs at once (19 MiB each: 8 at once took
	// the server from 40 to 170 MiB) and orders them (checkpool.go);
	// logins that waited find the cache filled by the first.
	pool *checkPool
	// running holds the checks under way, so an identical one waits for
	// it (join) instead of taking a second slot.
	running map[[32]byte]chan struct{}
}

func newAuthCache() *authCache {
	return &authCache{entries: map[[32]byte]time.Time{}, ttl: 10 * time.Minute, max: 10000,
		pool: newCheckPool(poolSize()), running: map[[32]byte]chan struct{}{}}
}

func cacheKey(login, hash, pw string) [32]byte {
	h := sha256.New()
	h.Write([]byte(login))
	h.Write([]byte{0})
	h.Write([]byte(hash))
	h.Write([]byte{0})
	h.Write([]byte(pw))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *authCache) check(login, hash, pw string) bool {
	k := cacheKey(login, hash, pw)
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.entries[k]
	if ok && time.Since(t) < c.ttl {
		return true
	}
	if ok {
		delete(c.entries, k)
	}
	return false
}

func (c *authCache) add(login, hash, pw string) {
	k := cacheKey(login, hash, pw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		c.entries = map[[32]byte]time.Time{}
	}
	c.entries[k] = time.Now()
}

// join waits until no identical check (login, hash, password) is under
// way, then marks this one under way until done is called.
func (c *authCache) join(ctx context.Context, login, hash, pw string) (done func(), err error) {
	k := cacheKey(login, hash, pw)
	for {
		c.mu.Lock()
		running, busy := c.running[k]
		if !busy {
			ch := make(chan struct{})
			c.running[k] = ch
			c.mu.Unlock()
			return func() {
				c.mu.Lock()
				delete(c.running, k)
				c.mu.Unlock()
				close(ch)
			}, nil
		}
		c.mu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// forgetAll drops every cached success (a password changed or an account
// was removed). Cheap and rare, so no per-login index is kept.
func (c *authCache) forgetAll() {
	c.mu.Lock()
	c.entries = map[[32]byte]time.Time{}
	c.mu.Unlock()
}

// verify checks pw against hash through the cache. A check that is not
// cached waits for a slot in the pool, ranked by the client's failures;
// ready, if not nil, runs once the slot is held and may refuse the check
// (the address or login got blocked while it waited).
func (s *Store) verify(ctx context.Context, c checkFrom, login, hash, pw string) (bool, error) {
	if hash != "" && s.auth.check(login, hash, pw) {
		return true, nil
	}
	// The same check already running (a client opening several
	// connections at once): wait for it, then take the usual way, which
	// finds its success in the cache. One argon2 run (19 MiB) instead of
	// one per free slot.
	done, err := s.auth.join(ctx, login, hash, pw)
	if err != nil {
		return false, err
	}
	defer done()
	if hash != "" && s.auth.check(login, hash, pw) {
		return true, nil
	}
	release, err := s.auth.pool.acquire(ctx, c.ipKey, c.failures)
	if err != nil {
		return false, err
	}
	defer release()
	if c.ready != nil {
		if err := c.ready(); err != nil {
			return false, err
		}
	}
	if hash != "" && s.auth.check(login, hash, pw) {
		return true, nil
	}
	hashed := s.auth.pool.hashing()
	ok := CheckPassword(hash, pw)
	hashed()
	if ok {
		s.auth.add(login, hash, pw)
		return true, nil
	}
	return false, nil
}

// checkFrom says who asks for a password check, for the pool's order.
type checkFrom struct {
	ipKey    string
	failures int
	ready    func() error
}
