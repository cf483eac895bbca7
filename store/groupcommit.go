package store

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// groupCommit shares one commit (bbolt's fsyncs, or a PostgreSQL
// transaction) among concurrent writers without bbolt Batch's fixed timer. A lone writer commits at
// once; writers that arrive while a commit runs wait, and all of them are
// committed together right after it (after a short linger, below). So an
// idle server pays no added delay and a busy one gets batches as large as
// its load: Batch's MaxBatchDelay (2 ms) was most of the latency of a
// submission.
//
// As with Batch, a function may run more than once (when another function
// in its group fails, the group is retried without it, and it is re-run on
// its own), so it must have no side effects outside the transaction.
type groupCommit struct {
	db      kv.DB
	mu      sync.Mutex
	pending []groupCall
	running bool
	max     int // most functions in one commit

	// Linger: writers come back in a wave after their commit (an SMTP
	// client sends its next message). Committing only part of a wave at
	// once splits the writers into two groups that take turns, each
	// waiting for the other's commit. So the committer waits briefly (at
	// most the last commit's duration, capped) for as many writers as were
	// active in the last window. Measured with 8 clients: 1.2-2x msgs/s.
	inflight    int           // callers inside do
	peak        int           // most callers inside do in this window
	target      int           // peak of the previous window
	windowStart time.Time     // start of the current window
	lastCommit  time.Duration // duration of the last commit
	arrived     chan struct{} // signalled when a call is added
}

const (
	lingerWindow = 100 * time.Millisecond
	maxLinger    = time.Millisecond
)

func newGroupCommit(db kv.DB, max int) *groupCommit {
	return &groupCommit{db: db, max: max, arrived: make(chan struct{}, 1)}
}

type groupCall struct {
	fn   func(kv.Tx) error
	size int // bytes the call writes, roughly (its message bodies)
	err  chan error
}

// maxGroupBytes caps the bodies one commit writes: bbolt copies each
// written value into fresh pages at commit, so eight 25 MiB messages in
// one group would hold 200 MiB of pages at once. Past the cap the rest
// waits for the next commit (a call is never split: one over the cap
// commits alone).
const maxGroupBytes = 16 << 20

var errRunSolo = errors.New("group commit: re-run alone")

// do runs fn in a shared write transaction and returns after the commit.
func (g *groupCommit) do(fn func(kv.Tx) error) error { return g.doSized(0, fn) }

// doSized is do for a call that writes about size bytes.
func (g *groupCommit) doSized(size int, fn func(kv.Tx) error) error {
	c := groupCall{fn: fn, size: size, err: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	g.inflight++
	g.peak = max(g.peak, g.inflight)
	if !g.running {
		g.running = true
		go g.loop()
	}
	g.mu.Unlock()
	select {
	case g.arrived <- struct{}{}:
	default:
	}
	err := <-c.err
	g.mu.Lock()
	g.inflight--
	g.mu.Unlock()
	if err == errRunSolo {
		return g.db.Update(fn)
	}
	return err
}

// loop commits what is pending until nothing is.
func (g *groupCommit) loop() {
	for {
		g.linger()
		g.mu.Lock()
		calls := g.pending
		n, bytes := 0, 0
		for n < len(calls) && n < g.max && (n == 0 || bytes+calls[n].size <= maxGroupBytes) {
			bytes += calls[n].size
			n++
		}
		if n < len(calls) {
			calls, g.pending = calls[:n], append([]groupCall(nil), calls[n:]...)
		} else {
			g.pending = nil
		}
		if len(calls) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		g.commit(calls)
	}
}

// linger waits, at most min(last commit, maxLinger), until as many
// writers are pending as were active in the last window.
func (g *groupCommit) linger() {
	g.mu.Lock()
	now := time.Now()
	switch since := now.Sub(g.windowStart); {
	case since > 2*lingerWindow: // idle for a while: the old peak is stale
		g.target, g.peak, g.windowStart = g.inflight, g.inflight, now
	case since > lingerWindow:
		g.target, g.peak, g.windowStart = g.peak, g.inflight, now
	}
	wait := min(g.lastCommit, maxLinger)
	need := min(g.target, g.max)
	g.mu.Unlock()
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		g.mu.Lock()
		n := len(g.pending)
		g.mu.Unlock()
		if n >= need || n == 0 {
			return
		}
		select {
		case <-g.arrived:
		case <-t.C:
			return
		}
	}
}

// commit runs calls in one transaction; a failing call is taken out and
// told to run alone, and the rest are retried.
func (g *groupCommit) commit(calls []groupCall) {
	start := time.Now()
	defer func() {
		g.mu.Lock()
		g.lastCommit = time.Since(start)
		g.mu.Unlock()
	}()
	for len(calls) > 0 {
		failed := -1
		err := g.db.Update(func(tx kv.Tx) error {
			// A backend may run this more than once (PostgreSQL retries
			// a serialization failure): only the last run's failure
			// counts, or a call committed by it would run again alone.
			failed = -1
			for i, c := range calls {
				if err := safeCall(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			calls[failed].err <- errRunSolo
			calls = append(calls[:failed:failed], calls[failed+1:]...)
			continue
		}
		for _, c := range calls {
			c.err <- err
		}
		return
	}
}

func safeCall(fn func(kv.Tx) error, tx kv.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a write transaction: %v", p)
		}
	}()
	return fn(tx)
}
