package listen

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// FailingFor is how long a listener may fail to accept (out of
// descriptors, say) before Health calls it unhealthy although it still
// retries.
const FailingFor = 30 * time.Second

// Health records the state of every listener of a server: /healthz turns
// red when one has stopped for good, or has failed to accept for longer
// than FailingFor. A nil *Health records nothing.
type Health struct {
	mu    sync.Mutex
	state map[string]listenerState
	now   func() time.Time // tests
}

type listenerState struct {
	err   error     // why it stopped or fails
	since time.Time // failing since (zero: stopped for good)
}

func (h *Health) serving(name string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.state, name)
}

func (h *Health) failing(name string, err error) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == nil {
		h.state = map[string]listenerState{}
	}
	s, ok := h.state[name]
	if !ok {
		s.since = h.clock()
	}
	if ok && s.since.IsZero() {
		return // already stopped for good
	}
	s.err = err
	h.state[name] = s
}

func (h *Health) stopped(name string, err error) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == nil {
		h.state = map[string]listenerState{}
	}
	h.state[name] = listenerState{err: err}
}

// Stopped records that the listener name stopped serving (its Serve
// returned with err). Listeners made by New report themselves; this is
// for the rest.
func (h *Health) Stopped(name string, err error) { h.stopped(name, err) }

func (h *Health) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

// Err is nil while every listener serves; otherwise it names each one
// that stopped or keeps failing, with why: "imap stopped: ...".
func (h *Health) Err() error {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var bad []string
	now := h.clock()
	for name, s := range h.state {
		switch {
		case s.since.IsZero():
			bad = append(bad, fmt.Sprintf("%s stopped: %v", name, s.err))
		case now.Sub(s.since) >= FailingFor:
			bad = append(bad, fmt.Sprintf("%s failing to accept for %s: %v", name, now.Sub(s.since).Round(time.Second), s.err))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("%s", strings.Join(bad, "; "))
}
