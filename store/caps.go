package store

import (
	"fmt"
	"sync"
	"time"
)

// DefaultSendLimits apply where a domain or user sets none. A domain login
// has its own counter, separate from its users', since it can send as
// anyone at the domain.
var builtinLimits = SendLimits{PerHour: 500, PerDay: 2000, RcptsPerDay: 5000}

// CapError is a send cap that was reached; its text says which and when it
// resets, for the 451 4.7.1 reply.
type CapError struct {
	Login string
	Limit string
	Max   int
	Reset time.Time
}

func (e *CapError) Error() string {
	return fmt.Sprintf("send limit reached for %s: %d %s; resets at %s", e.Login, e.Max, e.Limit, e.Reset.UTC().Format("2006-01-02 15:04 MST"))
}

// SendCaps counts what each login sent in the last 24 hours, in memory, in
// per-minute buckets: a Take costs at most one pass over the last hour's
// buckets, whatever the day's volume. A bucket counts for a window while
// its first message is inside it, so a limit can hold up to a minute
// longer than exact, never shorter.
//
// When several nodes share the database (Options.Shared), the counts live
// in the database instead (caps_shared.go), so a limit holds for the
// cluster, not per node.
type SendCaps struct {
	mu       sync.Mutex
	defaults SendLimits
	sent     map[string]*sendLog
	// shared, when set, keeps each login's log in the database.
	shared *sharedCounters
}

// sendLog is one login's non-empty minute buckets, oldest first, with the
// day's totals kept as buckets are added and expire.
type sendLog struct {
	buckets     []sendBucket
	msgs, rcpts int // sums over buckets
}

type sendBucket struct {
	minute int64     // Unix minute
	first  time.Time // first message counted in this bucket
	msgs   int
	rcpts  int
}

func newSendCaps() *SendCaps {
	return &SendCaps{defaults: builtinLimits, sent: map[string]*sendLog{}}
}

// SetDefaults sets the limits used where none is set (flags of serve).
func (c *SendCaps) SetDefaults(l SendLimits) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.PerHour > 0 {
		c.defaults.PerHour = l.PerHour
	}
	if l.PerDay > 0 {
		c.defaults.PerDay = l.PerDay
	}
	if l.RcptsPerDay > 0 {
		c.defaults.RcptsPerDay = l.RcptsPerDay
	}
}

// Take checks one message with rcpts recipients against the limits of
// login and counts it if allowed. Zero fields of limits use the defaults.
func (c *SendCaps) Take(login string, limits SendLimits, rcpts int) error {
	return c.take(time.Now(), login, limits, rcpts)
}

func (c *SendCaps) take(now time.Time, login string, limits SendLimits, rcpts int) error {
	limits = c.withDefaults(limits)
	if c.shared != nil {
		return c.shared.takeSend(now, login, limits, rcpts)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.sent[login]
	if l == nil {
		l = &sendLog{}
		c.sent[login] = l
	}
	return l.take(now, login, limits, rcpts)
}

// withDefaults fills the zero fields of limits with the defaults.
func (c *SendCaps) withDefaults(limits SendLimits) SendLimits {
	c.mu.Lock()
	defer c.mu.Unlock()
	if limits.PerHour == 0 {
		limits.PerHour = c.defaults.PerHour
	}
	if limits.PerDay == 0 {
		limits.PerDay = c.defaults.PerDay
	}
	if limits.RcptsPerDay == 0 {
		limits.RcptsPerDay = c.defaults.RcptsPerDay
	}
	return limits
}

// CapCharge is one message to count against a login's send caps as it is
// stored (Content.Cap): with the counters in a shared database, in the
// message's own transaction, so a message costs no transaction of its own
// and is counted only if it is stored.
type CapCharge struct {
	Login  string
	Limits SendLimits // zero fields: the defaults
	Rcpts  int
}

// take checks one message against limits (all set) and counts it if
// allowed.
func (l *sendLog) take(now time.Time, login string, limits SendLimits, rcpts int) error {
	l.expire(now)
	hour, firstHour := l.lastHour(now)
	switch {
	case l.msgs >= limits.PerDay:
		return &CapError{login, "messages per day", limits.PerDay, l.buckets[0].first.Add(24 * time.Hour)}
	case hour >= limits.PerHour:
		return &CapError{login, "messages per hour", limits.PerHour, firstHour.Add(time.Hour)}
	case l.rcpts+rcpts > limits.RcptsPerDay:
		reset := now.Add(24 * time.Hour)
		if len(l.buckets) > 0 {
			reset = l.buckets[0].first.Add(24 * time.Hour)
		}
		return &CapError{login, "recipients per day", limits.RcptsPerDay, reset}
	}
	l.add(now, rcpts)
	return nil
}

// lastHour counts the messages of the buckets that began in the last hour,
// and returns the first one's time.
func (l *sendLog) lastHour(now time.Time) (n int, first time.Time) {
	// The hour's buckets are the newest: walk back from the end.
	for i := len(l.buckets) - 1; i >= 0 && now.Sub(l.buckets[i].first) < time.Hour; i-- {
		n += l.buckets[i].msgs
		first = l.buckets[i].first
	}
	return n, first
}

// expire drops the buckets that left the 24-hour window.
func (l *sendLog) expire(now time.Time) {
	i := 0
	for i < len(l.buckets) && now.Sub(l.buckets[i].first) >= 24*time.Hour {
		l.msgs -= l.buckets[i].msgs
		l.rcpts -= l.buckets[i].rcpts
		i++
	}
	if i > 0 {
		l.buckets = append(l.buckets[:0], l.buckets[i:]...)
	}
}

func (l *sendLog) add(now time.Time, rcpts int) {
	m := now.Unix() / 60
	if n := len(l.buckets); n == 0 || l.buckets[n-1].minute < m { // a clock stepped back adds to the last bucket
		l.buckets = append(l.buckets, sendBucket{minute: m, first: now})
	}
	b := &l.buckets[len(l.buckets)-1]
	b.msgs++
	b.rcpts += rcpts
	l.msgs++
	l.rcpts += rcpts
}

// LimitsFor returns the stored limits of a principal's login.
func (s *Store) LimitsFor(p Principal) SendLimits {
	switch p.Kind {
	case KindDomain:
		if d, err := s.GetDomain(p.Domain); err == nil {
			return d.Limits
		}
	case KindUser:
		if u, err := s.GetUser(p.Address); err == nil {
			return u.Limits
		}
	}
	return SendLimits{}
}
