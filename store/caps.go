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

// SendCaps counts what each login sent in the last 24 hours, in memory.
type SendCaps struct {
	mu       sync.Mutex
	defaults SendLimits
	sent     map[string][]sendEvent
}

type sendEvent struct {
	at    time.Time
	rcpts int
}

func newSendCaps() *SendCaps {
	return &SendCaps{defaults: builtinLimits, sent: map[string][]sendEvent{}}
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
	now := time.Now()
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
	ev := c.sent[login]
	i := 0
	for i < len(ev) && now.Sub(ev[i].at) >= 24*time.Hour {
		i++
	}
	ev = ev[i:]
	var hour, rcptDay int
	var firstHour time.Time
	for _, e := range ev {
		rcptDay += e.rcpts
		if now.Sub(e.at) < time.Hour {
			if hour == 0 {
				firstHour = e.at
			}
			hour++
		}
	}
	switch {
	case len(ev) >= limits.PerDay:
		return &CapError{login, "messages per day", limits.PerDay, ev[0].at.Add(24 * time.Hour)}
	case hour >= limits.PerHour:
		return &CapError{login, "messages per hour", limits.PerHour, firstHour.Add(time.Hour)}
	case rcptDay+rcpts > limits.RcptsPerDay:
		reset := now.Add(24 * time.Hour)
		if len(ev) > 0 {
			reset = ev[0].at.Add(24 * time.Hour)
		}
		return &CapError{login, "recipients per day", limits.RcptsPerDay, reset}
	}
	c.sent[login] = append(ev, sendEvent{now, rcpts})
	return nil
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
