package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Recipient states in a queue entry.
const (
	RcptPending = "pending"
	RcptSent    = "sent"
	RcptFailed  = "failed"
)

// QueueRcpt is one recipient of a queued message and where it stands.
type QueueRcpt struct {
	Address string `json:"address"`
	Status  string `json:"status"`
	Reply   string `json:"reply,omitempty"` // last remote reply
}

// Attempt is one delivery try, for the timeline.
type Attempt struct {
	Time  time.Time `json:"time"`
	Host  string    `json:"host,omitempty"`
	Rcpts []string  `json:"rcpts,omitempty"`
	Reply string    `json:"reply"`
	OK    bool      `json:"ok"`
}

// QueueEntry is an outbound message waiting for delivery (or, in demo
// mode, captured for the login that sent it).
type QueueEntry struct {
	ID          string      `json:"id"`
	From        string      `json:"from"`            // envelope sender, "" for <>
	Login       string      `json:"login,omitempty"` // who submitted it
	Rcpts       []QueueRcpt `json:"rcpts"`
	BodyID      uint64      `json:"body"`
	Size        int64       `json:"size"`
	Created     time.Time   `json:"created"`
	NextAttempt time.Time   `json:"next_attempt"`
	Attempts    []Attempt   `json:"attempts,omitempty"`
	Captured    bool        `json:"captured,omitempty"` // demo mode: never delivered
	DSN         bool        `json:"dsn,omitempty"`      // a bounce: never bounced itself
	Subject     string      `json:"subject,omitempty"`
	Tries       int         `json:"tries,omitempty"` // delivery rounds so far (picks the retry delay)
	Filed       bool        `json:"filed,omitempty"` // captured: copy put in the login's Captured folder
	// Service and CID: the session that accepted it, as in its log lines.
	Service string `json:"service,omitempty"`
	CID     string `json:"cid,omitempty"`
	// LeaseOwner is the node delivering the entry now and LeaseUntil when
	// its claim lapses, after which another node may take it over
	// (queue_lease.go).
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}

// LeasedElsewhere reports whether a node other than node holds an
// unexpired lease on the entry at now.
func (q *QueueEntry) LeasedElsewhere(node string, now time.Time) bool {
	return q.LeaseOwner != "" && q.LeaseOwner != node && now.Before(q.LeaseUntil)
}

// Pending returns the recipients still to deliver.
func (q *QueueEntry) Pending() []string {
	var out []string
	for _, r := range q.Rcpts {
		if r.Status == RcptPending {
			out = append(out, r.Address)
		}
	}
	return out
}

func queueKey(id string) []byte { return []byte(id) }

// newQueueID makes a sortable id from the global sequence.
func newQueueID(tx kv.Tx) string {
	return fmt.Sprintf("%016x", nextSeq(tx))
}

// ParseQueueID checks an id given on the command line.
func ParseQueueID(id string) (string, error) {
	if _, err := strconv.ParseUint(id, 16, 64); err != nil || len(id) != 16 {
		return "", fmt.Errorf("invalid queue id %q", id)
	}
	return id, nil
}

// ListQueue returns all queue entries, oldest first.
func (s *Store) ListQueue() ([]QueueEntry, error) {
	var out []QueueEntry
	err := s.db.View(func(tx kv.Tx) error {
		return tx.Bucket(bucketQueue).ForEach(func(k, v []byte) error {
			var q QueueEntry
			if err := json.Unmarshal(v, &q); err != nil {
				return fmt.Errorf("reading queue entry %s: %w", k, err)
			}
			out = append(out, q)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// GetQueue returns one entry.
func (s *Store) GetQueue(id string) (QueueEntry, error) {
	var q QueueEntry
	err := s.db.View(func(tx kv.Tx) error {
		if !getJSON(tx.Bucket(bucketQueue), id, &q) {
			return fmt.Errorf("queue entry %s %w", id, ErrNotFound)
		}
		return nil
	})
	return q, err
}

// UpdateQueue applies fn to an entry in one transaction. If fn leaves no
// pending recipient and the entry is not captured, the entry and its body
// reference are removed.
func (s *Store) UpdateQueue(id string, fn func(*QueueEntry) error) error {
	return s.db.Update(func(tx kv.Tx) error { return updateQueueTx(tx, id, fn) })
}

// updateQueueTx is UpdateQueue inside tx: load the entry, apply fn, then
// save it, or delete it with its body reference once nothing is pending.
func updateQueueTx(tx kv.Tx, id string, fn func(*QueueEntry) error) error {
	b := tx.Bucket(bucketQueue)
	var q QueueEntry
	if !getJSON(b, id, &q) {
		return fmt.Errorf("queue entry %s %w", id, ErrNotFound)
	}
	if err := fn(&q); err != nil {
		return err
	}
	if len(q.Pending()) == 0 && !q.Captured {
		if err := unrefBody(tx, q.BodyID); err != nil {
			return err
		}
		return b.Delete(queueKey(id))
	}
	return putJSON(b, id, q)
}

// DeleteQueue removes an entry and its body.
func (s *Store) DeleteQueue(id string) error {
	return s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketQueue)
		var q QueueEntry
		if !getJSON(b, id, &q) {
			return fmt.Errorf("queue entry %s %w", id, ErrNotFound)
		}
		if err := unrefBody(tx, q.BodyID); err != nil {
			return err
		}
		return b.Delete(queueKey(id))
	})
}
