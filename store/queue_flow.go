package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Queue operations used by the delivery workers and the queue commands.
// The workers read an entry, deliver over the network with no transaction
// open, then record the outcome with UpdateQueue: a crash in between can
// send a message twice, never lose it.

// DueQueue returns the entries to deliver now: not captured, with pending
// recipients and NextAttempt not after now, oldest first. It also returns
// the earliest NextAttempt of the entries not yet due (zero if none), so
// the caller knows when to look again.
func (s *Store) DueQueue(now time.Time, limit int) ([]QueueEntry, time.Time, error) {
	var out []QueueEntry
	var next time.Time
	err := s.db.View(func(tx kv.Tx) error {
		return tx.Bucket(bucketQueue).ForEach(func(k, v []byte) error {
			var q QueueEntry
			if err := json.Unmarshal(v, &q); err != nil {
				return fmt.Errorf("reading queue entry %s: %w", k, err)
			}
			if q.Captured || len(q.Pending()) == 0 {
				return nil
			}
			if q.NextAttempt.After(now) {
				if next.IsZero() || q.NextAttempt.Before(next) {
					next = q.NextAttempt
				}
				return nil
			}
			if limit <= 0 || len(out) < limit {
				out = append(out, q)
			}
			return nil
		})
	})
	return out, next, err
}

// UnfiledCaptured returns captured entries of user logins whose copy is not
// yet in the login's Captured folder.
func (s *Store) UnfiledCaptured() ([]QueueEntry, error) {
	var out []QueueEntry
	err := s.db.View(func(tx kv.Tx) error {
		return tx.Bucket(bucketQueue).ForEach(func(k, v []byte) error {
			var q QueueEntry
			if json.Unmarshal(v, &q) == nil && q.Captured && !q.Filed {
				out = append(out, q)
			}
			return nil
		})
	})
	return out, err
}

// ListCaptured returns the captured messages of a login ("" for all),
// oldest first.
func (s *Store) ListCaptured(login string) ([]QueueEntry, error) {
	all, err := s.ListQueue()
	if err != nil {
		return nil, err
	}
	var out []QueueEntry
	for _, q := range all {
		if q.Captured && (login == "" || q.Login == login) {
			out = append(out, q)
		}
	}
	return out, nil
}

// ClearCaptured deletes the captured messages of a login ("" for all)
// and returns how many it removed.
func (s *Store) ClearCaptured(login string) (int, error) {
	n := 0
	err := s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketQueue)
		var del []QueueEntry
		b.ForEach(func(k, v []byte) error {
			var q QueueEntry
			if json.Unmarshal(v, &q) == nil && q.Captured && (login == "" || q.Login == login) {
				del = append(del, q)
			}
			return nil
		})
		for _, q := range del {
			if err := unrefBody(tx, q.BodyID); err != nil {
				return err
			}
			if err := b.Delete(queueKey(q.ID)); err != nil {
				return err
			}
		}
		n = len(del)
		return nil
	})
	return n, err
}

// RetryQueue makes one entry (or every entry when id is "all") due now.
// It returns the number of entries changed.
func (s *Store) RetryQueue(id string) (int, error) {
	now := time.Now().UTC()
	n := 0
	err := s.db.Update(func(tx kv.Tx) error {
		n = 0 // this may run more than once
		b := tx.Bucket(bucketQueue)
		var ids []string
		if id == "all" {
			b.ForEach(func(k, _ []byte) error {
				ids = append(ids, string(k))
				return nil
			})
		} else {
			if b.Get(queueKey(id)) == nil {
				return fmt.Errorf("queue entry %s %w", id, ErrNotFound)
			}
			ids = []string{id}
		}
		sort.Strings(ids)
		for _, k := range ids {
			var q QueueEntry
			if !getJSON(b, k, &q) || q.Captured || len(q.Pending()) == 0 {
				continue
			}
			q.NextAttempt = now
			if err := putJSON(b, k, q); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err == nil && n > 0 {
		s.kickQueues()
	}
	return n, err
}

// RecordDelivery is UpdateQueue through the store's group commit: an idle
// server commits at once, and delivery connections finishing at the same
// time share one fsync. fn may run more than once, so it must only change
// q (and reset anything it gathers at its start).
func (s *Store) RecordDelivery(id string, fn func(*QueueEntry) error) error {
	return s.commits.do(func(tx kv.Tx) error { return updateQueueTx(tx, id, fn) })
}
