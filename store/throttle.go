package store

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
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
type Throttle struct {
	cfg ThrottleConfig
	mu  sync.Mutex
	// keys are "ip:<addr>" and "login:<name>".
	state  map[string]*throttleState
	recent []Failure // ring of the last failures, newest last
}

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
	return &Throttle{cfg: cfg, state: map[string]*throttleState{}}
}

// SetConfig replaces the configuration (tests shorten the times).
func (t *Throttle) SetConfig(cfg ThrottleConfig) {
	n := NewThrottle(cfg)
	t.mu.Lock()
	t.cfg = n.cfg
	t.mu.Unlock()
}

func (t *Throttle) get(key string, now time.Time) *throttleState {
	st := t.state[key]
	if st != nil && now.Sub(st.last) > t.cfg.Window && now.After(st.blockedUntil) {
		delete(t.state, key)
		st = nil
	}
	return st
}

// Check says whether ip or login is blocked now, and until when.
func (t *Throttle) Check(ip, login string) (blocked bool, until time.Time) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range []string{"ip:" + ip, "login:" + login} {
		if st := t.get(k, now); st != nil && now.Before(st.blockedUntil) {
			blocked = true
			if st.blockedUntil.After(until) {
				until = st.blockedUntil
			}
		}
	}
	return blocked, until
}

// Fail records a failure and returns how long the caller should wait
// before answering: a short fixed delay for the first few, then growing.
func (t *Throttle) Fail(protocol, ip, login string) time.Duration {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recent = append(t.recent, Failure{Time: now.UTC(), Protocol: protocol, IP: ip, Login: login})
	if len(t.recent) > recentFailures {
		t.recent = append([]Failure(nil), t.recent[len(t.recent)-recentFailures:]...)
	}
	worst := 0
	for _, k := range []string{"ip:" + ip, "login:" + login} {
		st := t.get(k, now)
		if st == nil {
			st = &throttleState{}
			t.state[k] = st
		}
		st.failures++
		st.last = now
		if st.failures >= t.cfg.BlockAfter {
			st.blockedUntil = now.Add(t.cfg.BlockFor)
		}
		worst = max(worst, st.failures)
	}
	if len(t.state) > 100000 { // bound memory under a wide scan
		for k, st := range t.state {
			if now.Sub(st.last) > t.cfg.Window && now.After(st.blockedUntil) {
				delete(t.state, k)
			}
		}
	}
	over := worst - t.cfg.FreeFailures
	if over <= 0 {
		return t.cfg.BaseDelay
	}
	d := t.cfg.BaseDelay + 250*time.Millisecond<<min(over-1, 8)
	return min(d, t.cfg.MaxDelay)
}

// Succeed clears the counter of this IP only: a success elsewhere must not
// help an attacker who is guessing the same login from another address.
func (t *Throttle) Succeed(ip string) {
	t.mu.Lock()
	delete(t.state, "ip:"+ip)
	t.mu.Unlock()
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
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.state[key]
	delete(t.state, key)
	return ok
}

// Login is the one login path of SMTP, IMAP and the web: it applies the
// throttle, checks the password, waits the growing delay after a failure,
// and logs the outcome (never the password). protocol is "smtp", "imap"
// or "web"; ip is the remote address without port.
func (s *Store) Login(ctx context.Context, protocol, ip, login, password string) (Principal, error) {
	logName := sanitizeLog(login)
	if blocked, until := s.Throttle.Check(ip, login); blocked {
		s.log.Warn("login refused: throttled", "proto", protocol, "ip", ip, "login", logName, "until", until.Format(time.RFC3339))
		return Principal{}, ErrThrottled
	}
	p, err := s.Authenticate(login, password)
	if err != nil {
		delay := s.Throttle.Fail(protocol, ip, login)
		s.log.Warn("login failed", "proto", protocol, "ip", ip, "login", logName)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
			}
		}
		return Principal{}, err
	}
	s.Throttle.Succeed(ip)
	s.log.Info("login", "proto", protocol, "ip", ip, "login", p.Login(), "kind", p.Kind.String())
	return p, nil
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
