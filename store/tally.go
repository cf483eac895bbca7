package store

import (
	"sync"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// tallyFlushEvery is how often the counters a stranger can bump once per
// connection (DNS list hits, blocklist refusals) are written: they are
// tallied in memory and written together at most this often and at
// Close, so a flood of connections to port 25 costs no disk write each.
// A crash loses at most this interval's counts.
const tallyFlushEvery = time.Minute

// tally holds the counts not yet written. Readers add them to what is
// stored, under mu, so a flush never shows a count twice or not at all.
type tally struct {
	mu      sync.Mutex
	hits    map[string]uint64 // dnsListHitKey → connections listed
	refused map[string]uint32 // spamStatsKey → connections refused
	stop    chan struct{}
	stopped chan struct{}
}

func newTally() *tally {
	return &tally{hits: map[string]uint64{}, refused: map[string]uint32{},
		stop: make(chan struct{}), stopped: make(chan struct{})}
}

// startTally writes the tally every tallyFlushEvery until Close.
func (s *Store) startTally() {
	s.tally = newTally()
	go func() {
		defer close(s.tally.stopped)
		t := time.NewTicker(tallyFlushEvery)
		defer t.Stop()
		for {
			select {
			case <-s.tally.stop:
				return
			case <-t.C:
				if err := s.flushTally(); err != nil {
					s.log.Warn("writing the connection counters (kept for the next try)", "err", err)
				}
			}
		}
	}()
}

// stopTally ends the flushing and writes what is left (at Close).
func (s *Store) stopTally() {
	close(s.tally.stop)
	<-s.tally.stopped
	if err := s.flushTally(); err != nil {
		s.log.Error("writing the connection counters at close", "err", err)
	}
}

// flushTally writes the pending counts in one transaction; on failure
// they stay pending.
func (s *Store) flushTally() error {
	t := s.tally
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.hits) == 0 && len(t.refused) == 0 {
		return nil
	}
	err := s.db.Update(func(tx kv.Tx) error {
		for k, n := range t.hits {
			if err := addDNSListHitsTx(tx, []byte(k), n); err != nil {
				return err
			}
		}
		for k, n := range t.refused {
			if err := addSpamStatsKeyTx(tx, []byte(k), 0, 0, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		clear(t.hits)
		clear(t.refused)
	}
	return err
}
