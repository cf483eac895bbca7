package mx

import (
	"container/list"
	"sync"
	"time"
)

// maxRateEntries bounds the per-IP hourly table: past it, the entries
// whose hour started first make room (a flood of sources cannot grow
// memory, and cannot reset everybody else's count either).
const maxRateEntries = 100_000

// hourly counts messages per IP in hour-long windows, each starting at
// that IP's first message. Entries are kept in window-start order, so the
// expired and the oldest are always at the front.
type hourly struct {
	mu    sync.Mutex
	max   int
	byIP  map[string]*list.Element // of *hourWindow
	order *list.List               // oldest window first
}

type hourWindow struct {
	ip    string
	start time.Time
	n     int
}

func newHourly(max int) *hourly {
	return &hourly{max: max, byIP: map[string]*list.Element{}, order: list.New()}
}

// take counts one message from ip at now; false (nothing counted) when ip
// already had limit messages in its current hour.
func (h *hourly) take(ip string, limit int, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.byIP[ip]
	if e != nil && now.Sub(e.Value.(*hourWindow).start) >= time.Hour {
		h.remove(e)
		e = nil
	}
	if e == nil {
		h.expire(now)
		e = h.order.PushBack(&hourWindow{ip: ip, start: now})
		h.byIP[ip] = e
	}
	w := e.Value.(*hourWindow)
	if w.n >= limit {
		return false
	}
	w.n++
	return true
}

// expire drops windows older than an hour, then the oldest ones until
// there is room for one more.
func (h *hourly) expire(now time.Time) {
	for e := h.order.Front(); e != nil; e = h.order.Front() {
		if now.Sub(e.Value.(*hourWindow).start) < time.Hour && h.order.Len() < h.max {
			return
		}
		h.remove(e)
	}
}

func (h *hourly) remove(e *list.Element) {
	delete(h.byIP, e.Value.(*hourWindow).ip)
	h.order.Remove(e)
}

func (h *hourly) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.order.Len()
}
