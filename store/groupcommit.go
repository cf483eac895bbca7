package store

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit shares one bbolt commit (and its fsyncs) among concurrent
// writers without bbolt Batch's timer. The first writer to arrive commits
// at once; writers that arrive while a commit runs wait, and all of them
// are committed together right after it. So an idle server pays no added
// delay and a busy one gets batches as large as its load: Batch's
// MaxBatchDelay (2 ms) was most of the latency of a submission.
//
// As with Batch, a function may run more than once (when another function
// in its group fails, the group is retried without it, and it is re-run on
// its own), so it must have no side effects outside the transaction.
type groupCommit struct {
	db      *bolt.DB
	mu      sync.Mutex
	pending []groupCall
	running bool
	max     int // most functions in one commit
}

type groupCall struct {
	fn  func(*bolt.Tx) error
	err chan error
}

var errRunSolo = errors.New("group commit: re-run alone")

// do runs fn in a shared write transaction and returns after the commit.
func (g *groupCommit) do(fn func(*bolt.Tx) error) error {
	c := groupCall{fn: fn, err: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if !g.running {
		g.running = true
		go g.loop()
	}
	g.mu.Unlock()
	err := <-c.err
	if err == errRunSolo {
		return g.db.Update(fn)
	}
	return err
}

// loop commits what is pending until nothing is.
func (g *groupCommit) loop() {
	for {
		g.mu.Lock()
		calls := g.pending
		if len(calls) > g.max {
			calls, g.pending = calls[:g.max], append([]groupCall(nil), calls[g.max:]...)
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

// commit runs calls in one transaction; a failing call is taken out and
// told to run alone, and the rest are retried.
func (g *groupCommit) commit(calls []groupCall) {
	for len(calls) > 0 {
		failed := -1
		err := g.db.Update(func(tx *bolt.Tx) error {
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

func safeCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a write transaction: %v", p)
		}
	}()
	return fn(tx)
}
