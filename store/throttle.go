package store

import (
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/authsmtp/authsmtp/internal/listen"
)

// ThrottleConfig tunes the failed-login throttle. Zero fields get defaults.
type ThrottleConfig struct {
	FreeFailures int           // failures before delays start (default 3)
	MaxDelay     time.Duration // cap of the growing delay (default 5s)
	BlockAfter   int           // failures that block the key (default 10)
	BlockFor     time.Duration // how long a block lasts (default 15m)
	Window       time.Duration // failures older than this are forgotten (default 15m)
	BaseDelay    time.Duration // every failure waits at least this (default 200ms)
}

// Throttle counts failed logins per remote IP and per login name, shared
// by SMTP, IMAP and the web. It slows down and then temporarily refuses a
// key; it never locks an account permanently.
//
// Logins are keyed by their canonical form (CanonicalLogin), so every
// spelling of an account shares one counter; IPv4 clients are keyed per
// address, IPv6 clients per /64 (one host usually owns the whole /64).
// Failures are also kept per (IP, login) pair: a success clears only its
// own pair's failures from the IP's and the login's counts, so logging in
// to one's own account does not wipe the guesses made against another.
type Throttle struct {
	cfg ThrottleConfig
	mu  sync.Mutex
	// state keys are "ip:<addr or /64>" and "login:<canonical login>";
	// pairs are keyed by the two together.
	state  map[string]*throttleState
	pairs  map[pairKey]*throttleState
	recent []Failure // ring of the last failures, newest last (this node's)
	// shared, when set, keeps state and pairs in the database
	// (counters_shared.go); recent stays per node.
	shared *sharedCounters
}

type pairKey struct{ ip, login string }

type throttleState struct {
	failures     int
	last         time.Time
	blockedUntil time.Time
}

// Failure is one failed login, kept for the admin's Security page.
type Failure struct {
	Time     time.Time `json:"time"`
	Protocol string    `json:"protocol"`
	IP       string    `json:"ip"`
	Login    string    `json:"login"`
}

// Blocked is a key that is refused right now.
type Blocked struct {
	Key      string    `json:"key"`
	Failures int       `json:"failures"`
	Until    time.Time `json:"until"`
}

// ErrThrottled is returned while an IP or login is temporarily blocked.
var ErrThrottled = errors.New("too many failed logins: try again later")

const recentFailures = 500

// NewThrottle returns a throttle with defaults filled in.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.FreeFailures == 0 {
		cfg.FreeFailures = 3
	}
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = 5 * time.Second
	}
	if cfg.BlockAfter == 0 {
		cfg.BlockAfter = 10
	}
	if cfg.BlockFor == 0 {
		cfg.BlockFor = 15 * time.Minute
	}
	if cfg.Window == 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.BaseDelay == 0 {
		cfg.BaseDelay = 200 * time.Millisecond
	}
	return &Throttle{cfg: cfg, state: map[string]*throttleState{}, pairs: map[pairKey]*throttleState{}}
}

// SetConfig replaces the configuration (tests shorten the times).
func (t *Throttle) SetConfig(cfg ThrottleConfig) {
	n := NewThrottle(cfg)
	t.mu.Lock()
	t.cfg = n.cfg
	t.mu.Unlock()
}

// ThrottleIP is the throttle's key for a remote address: the address for
// IPv4 (also IPv4-mapped IPv6), the /64 prefix for IPv6, the string as
// given when it does not parse; the same client key the per-IP
// connection caps count by.
func ThrottleIP(ip string) string { return listen.ClientKey(ip) }

// keys returns the throttle's IP key and canonical login for a login.
func throttleKeys(ip, login string) (ipKey, loginKey string) {
	l, _, _ := CanonicalLogin(login)
	return ThrottleIP(ip), l
}

// expired says whether a key's failures are forgotten: the last is older
// than the window and no block holds.
func (st *throttleState) expired(cfg ThrottleConfig, now time.Time) bool {
	return now.Sub(st.last) > cfg.Window && now.After(st.blockedUntil)
}

// fail counts one failure, blocking the key once it has BlockAfter.
func (st *throttleState) fail(cfg ThrottleConfig, now time.Time) {
	st.failures++
	st.last = now
	if st.failures >= cfg.BlockAfter {
		st.blockedUntil = now.Add(cfg.BlockFor)
	}
}

// sharedMode returns the database counters (nil: in memory) and the
// configuration, so the shared path holds no lock over a round trip.
func (t *Throttle) sharedMode() (*sharedCounters, ThrottleConfig) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shared, t.cfg
}

func (t *Throttle) get(key string, now time.Time) *throttleState {
	st := t.state[key]
	if st != nil && st.expired(t.cfg, now) {
		delete(t.state, key)
		st = nil
	}
	return st
}

// Check says whether ip or login is blocked now, and until when.
func (t *Throttle) Check(ip, login string) (blocked bool, until time.Time) {
	ipKey, loginKey := throttleKeys(ip, login)
	now := time.Now()
	if sh, cfg := t.sharedMode(); sh != nil {
		// A database that does not answer blocks nobody: the password
		// check that follows cannot succeed without it either.
		blocked, until, _ = sh.check(cfg, []string{"ip:" + ipKey, "login:" + loginKey}, now)
		return blocked, until
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range []string{"ip:" + ipKey, "login:" + loginKey} {
		if st := t.get(k, now); st != nil && now.Before(st.blockedUntil) {
			blocked = true
			if st.blockedUntil.After(until) {
				until = st.blockedUntil
			}
		}
	}
	return blocked, until
}

// Failures returns the failures counted against ip's key now (0 for a
// clean address); the password-check pool puts failing addresses last.
func (t *Throttle) Failures(ip string) int {
	k := "ip:" + ThrottleIP(ip)
	now := time.Now()
	if sh, cfg := t.sharedMode(); sh != nil {
		return sh.failures(cfg, k, now)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.get(k, now); st != nil {
		return st.failures
	}
	return 0
}

// Fail records a failure and returns how long the caller should wait
// before answering: a short fixed delay for the first few, then growing.
func (t *Throttle) Fail(protocol, ip, login string) time.Duration {
	ipKey, loginKey := throttleKeys(ip, login)
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recent = append(t.recent, Failure{Time: now.UTC(), Protocol: protocol, IP: ip, Login: login})
	if len(t.recent) > recentFailures {
		t.recent = append([]Failure(nil), t.recent[len(t.recent)-recentFailures:]...)
	}
	if sh, cfg := t.shared, t.cfg; sh != nil {
		t.mu.Unlock() // no lock over a database round trip
		worst, err := sh.fail(cfg, ipKey, loginKey, now)
		t.mu.Lock()
		if err != nil {
			return cfg.MaxDelay // the database failed: be slow, count nothing
		}
		return t.delay(worst)
	}
	pk := pairKey{ipKey, loginKey}
	pair := t.pairs[pk]
	if pair == nil || now.Sub(pair.last) > t.cfg.Window {
		pair = &throttleState{}
		t.pairs[pk] = pair
	}
	pair.failures++
	pair.last = now
	worst := 0
	for _, k := range []string{"ip:" + ipKey, "login:" + loginKey} {
		st := t.get(k, now)
		if st == nil {
			st = &throttleState{}
			t.state[k] = st
		}
		st.fail(t.cfg, now)
		worst = max(worst, st.failures)
	}
	if len(t.state)+len(t.pairs) > 100000 { // bound memory under a wide scan
		for k, st := range t.state {
			if now.Sub(st.last) > t.cfg.Window && now.After(st.blockedUntil) {
				delete(t.state, k)
			}
		}
		for k, st := range t.pairs {
			if now.Sub(st.last) > t.cfg.Window {
				delete(t.pairs, k)
			}
		}
	}
	return t.delay(worst)
}

// delay is how long to wait after a failure when a key has worst failures.
func (t *Throttle) delay(worst int) time.Duration {
	over := worst - t.cfg.FreeFailures
	if over <= 0 {
		return t.cfg.BaseDelay
	}
	d := t.cfg.BaseDelay + 250*time.Millisecond<<min(over-1, 8)
	return min(d, t.cfg.MaxDelay)
}

// Succeed forgets the failures of this (IP, login) pair only: they no
// longer count against the IP or the login. Failures from the same IP
// against other logins, and from other IPs against this login, stay: a
// success elsewhere must not help an attacker.
func (t *Throttle) Succeed(ip, login string) {
	ipKey, loginKey := throttleKeys(ip, login)
	if sh, _ := t.sharedMode(); sh != nil {
		sh.succeed(ipKey, loginKey, time.Now())
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	pk := pairKey{ipKey, loginKey}
	pair := t.pairs[pk]
	if pair == nil {
		return
	}
	delete(t.pairs, pk)
	for _, k := range []string{"ip:" + ipKey, "login:" + loginKey} {
		if st := t.state[k]; st != nil {
			st.failures = max(0, st.failures-pair.failures)
			if st.failures == 0 && time.Now().After(st.blockedUntil) {
				delete(t.state, k)
			}
		}
	}
}

// Recent returns the last failures, newest first.
func (t *Throttle) Recent() []Failure {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Failure, len(t.recent))
	for i, f := range t.recent {
		out[len(out)-1-i] = f
	}
	return out
}

// BlockedNow lists the keys refused right now.
func (t *Throttle) BlockedNow() []Blocked {
	now := time.Now()
	if sh, _ := t.sharedMode(); sh != nil {
		out, _ := sh.blocked(now)
		return out
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Blocked
	for k, st := range t.state {
		if now.Before(st.blockedUntil) {
			out = append(out, Blocked{Key: k, Failures: st.failures, Until: st.blockedUntil})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Unblock forgets a key ("ip:1.2.3.4" or "login:doe.com").
func (t *Throttle) Unblock(key string) bool {
	if sh, _ := t.sharedMode(); sh != nil {
		ok, _ := sh.unblock(key)
		return ok
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.state[key]
	delete(t.state, key)
	return ok
}

// sanitizeLog keeps control characters out of log lines.
func sanitizeLog(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = '?'
		}
	}
	return string(b)
}

// SanitizeLog is sanitizeLog for other packages' log lines.
func SanitizeLog(s string) string { return sanitizeLog(s) }
