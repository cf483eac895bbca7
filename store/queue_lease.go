package store

import (
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Queue leases: before delivering an entry a node claims it (owner node id
// and an expiry, written in one transaction), renews the claim while the
// delivery runs and releases it when done. A node skips entries another
// node holds; when a node dies mid-delivery its lease lapses and another
// node takes the entry over. On a database several nodes share, the
// claiming transaction is serializable, so two nodes racing for one entry
// cannot both win (the effect of FOR UPDATE SKIP LOCKED). A node that
// lost its lease (it stalled past the expiry) sees another owner before
// its next message and leaves the entry alone.
//
// The functions run through the group commit and may run more than once:
// each resets what it returns at its start.

// ClaimQueue claims the entries of ids that are deliverable (not captured,
// something pending) and not leased by another node, for node until
// until, and returns the ids it claimed. Claiming an entry node already
// holds extends its lease.
func (s *Store) ClaimQueue(node string, ids []string, until time.Time) ([]string, error) {
	var claimed []string
	now := time.Now()
	err := s.commits.do(func(tx kv.Tx) error {
		claimed = claimed[:0]
		b := tx.Bucket(bucketQueue)
		for _, id := range ids {
			var q QueueEntry
			if !getJSON(b, id, &q) || q.Captured || len(q.Pending()) == 0 || q.LeasedElsewhere(node, now) {
				continue
			}
			q.LeaseOwner, q.LeaseUntil = node, until.UTC()
			if err := putJSON(b, id, q); err != nil {
				return err
			}
			claimed = append(claimed, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// RenewQueueLeases extends node's leases on ids to until. It returns the
// ids node no longer holds (delivered and removed, released, or taken
// over by another node after a lapse).
func (s *Store) RenewQueueLeases(node string, ids []string, until time.Time) (lost []string, err error) {
	err = s.commits.do(func(tx kv.Tx) error {
		lost = lost[:0]
		b := tx.Bucket(bucketQueue)
		for _, id := range ids {
			var q QueueEntry
			if !getJSON(b, id, &q) || q.LeaseOwner != node {
				lost = append(lost, id)
				continue
			}
			q.LeaseUntil = until.UTC()
			if err := putJSON(b, id, q); err != nil {
				return err
			}
		}
		return nil
	})
	return lost, err
}

// ReleaseQueue drops node's leases on ids (all of node's leases when ids
// is nil: a node starting up holds none), so any node may deliver them
// at once.
func (s *Store) ReleaseQueue(node string, ids []string) error {
	return s.commits.do(func(tx kv.Tx) error {
		b := tx.Bucket(bucketQueue)
		release := func(id string) error {
			var q QueueEntry
			if !getJSON(b, id, &q) || q.LeaseOwner != node {
				return nil
			}
			q.LeaseOwner, q.LeaseUntil = "", time.Time{}
			return putJSON(b, id, q)
		}
		todo := ids // not ids itself: a retried run must list the entries again
		if todo == nil {
			b.ForEach(func(k, v []byte) error {
				todo = append(todo, string(k))
				return nil
			})
		}
		for _, id := range todo {
			if err := release(id); err != nil {
				return err
			}
		}
		return nil
	})
}
