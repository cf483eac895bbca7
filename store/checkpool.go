package store

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// checkPool runs argon2 password checks a few at a time: each takes 19 MiB
// and a core for some 30 ms, so a burst of logins cannot blow memory, and
// more at once than there are cores would only slow every check down.
//
// Waiting checks do not run in arrival order: a check from an address
// that is already failing, or that has other checks queued or running,
// waits behind those of clean addresses. So 40 concurrent guesses from
// one address delay a real login from another by about one check, not
// forty.
type checkPool struct {
	mu      sync.Mutex
	size    int
	free    int
	waiting []*poolWaiter
	busy    map[string]int // per throttle IP key: checks queued or running
	seq     uint64

	// hashed: an argon2 check ran since the pool was last idle.
	hashed atomic.Bool
	// hashes counts argon2 runs; running and maxRunning the runs under
	// way and the most at once (tests).
	hashes, running, maxRunning atomic.Int64
	// collecting: a collection started by collect is under way.
	collecting atomic.Bool
	// idleAfter is how long the pool stays idle before argon2's memory
	// goes back to the OS (memoryIdle; tests lengthen it).
	idleAfter time.Duration
	// giveBack runs returnMemory once the pool has stayed idle a while.
	giveBack *time.Timer
}

type poolWaiter struct {
	rank    int    // failures + checks the address already has in the pool
	seq     uint64 // arrival order among equal ranks
	granted bool
	ready   chan struct{}
}

// poolSize is the number of checks run at once: one per core, 1 to 4.
func poolSize() int { return min(max(runtime.GOMAXPROCS(0), 1), 4) }

func newCheckPool(size int) *checkPool {
	return &checkPool{size: size, free: size, busy: map[string]int{}, idleAfter: memoryIdle}
}

// acquire waits for a slot for a check from ipKey, which has failures
// recent failed logins. The returned release must be called once.
func (p *checkPool) acquire(ctx context.Context, ipKey string, failures int) (release func(), err error) {
	release = func() { p.release(ipKey) }
	p.mu.Lock()
	rank := failures + p.busy[ipKey]
	p.busy[ipKey]++
	if p.free > 0 && len(p.waiting) == 0 {
		p.free--
		p.mu.Unlock()
		return release, nil
	}
	w := &poolWaiter{rank: rank, seq: p.seq, ready: make(chan struct{})}
	p.seq++
	p.waiting = append(p.waiting, w)
	p.mu.Unlock()
	select {
	case <-w.ready:
		return release, nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	if w.granted { // the slot came as ctx ended: pass it on
		p.mu.Unlock()
		release()
		return nil, ctx.Err()
	}
	for i, x := range p.waiting {
		if x == w {
			p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
			break
		}
	}
	p.unbusy(ipKey)
	p.mu.Unlock()
	return nil, ctx.Err()
}

func (p *checkPool) release(ipKey string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unbusy(ipKey)
	if len(p.waiting) == 0 {
		p.free++
		if p.free == p.size && p.hashed.Swap(false) {
			p.returnMemorySoon()
		}
		return
	}
	best := 0
	for i, w := range p.waiting {
		b := p.waiting[best]
		if w.rank < b.rank || w.rank == b.rank && w.seq < b.seq {
			best = i
		}
	}
	w := p.waiting[best]
	p.waiting = append(p.waiting[:best], p.waiting[best+1:]...)
	w.granted = true
	close(w.ready)
}

func (p *checkPool) unbusy(ipKey string) {
	if p.busy[ipKey]--; p.busy[ipKey] <= 0 {
		delete(p.busy, ipKey)
	}
}

// hashing notes that the slot's holder runs argon2 (19 MiB of garbage);
// the returned func is called when the run is over.
func (p *checkPool) hashing() (done func()) {
	p.hashed.Store(true)
	p.hashes.Add(1)
	n := p.running.Add(1)
	for m := p.maxRunning.Load(); n > m && !p.maxRunning.CompareAndSwap(m, n); m = p.maxRunning.Load() {
	}
	return func() {
		p.running.Add(-1)
		p.collect()
	}
}

// collect starts a garbage collection once an argon2 run is over, unless
// one it started is still under way. The 19 MiB block was live at the
// collection its own allocation set off, so the heap goal (twice the live
// heap) stood near 50 MiB: the server's other garbage then piled up to
// it, and the first round of logins under load peaked 25 MiB above the
// later ones. Collected now, the goal falls back to twice what is really
// live, and the freed block is reused for what comes next. A collection
// of this heap costs a few ms of CPU, against argon2's 30-60 ms.
func (p *checkPool) collect() {
	if p.collecting.CompareAndSwap(false, true) {
		go func() {
			runtime.GC()
			p.collecting.Store(false)
		}()
	}
}

// memoryIdle is how long the pool stays idle before argon2's memory is
// handed back: a burst of logins (or of guesses) reuses it meanwhile.
const memoryIdle = time.Second

// returnMemorySoon hands argon2's blocks back to the OS once the pool has
// been idle for memoryIdle. The Go runtime would keep them, unused, for a
// long while: after one login the server's RSS stayed 30 MiB higher until
// the next collection. Forcing one costs a collection of a heap of some
// 10 MiB, ~2 ms, at most once a second. Called with p.mu held.
func (p *checkPool) returnMemorySoon() {
	if p.giveBack != nil {
		p.giveBack.Reset(p.idleAfter)
		return
	}
	p.giveBack = time.AfterFunc(p.idleAfter, func() {
		p.mu.Lock()
		idle := p.free == p.size
		p.mu.Unlock()
		if idle {
			debug.FreeOSMemory()
		}
	})
}
