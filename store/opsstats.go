package store

import (
	"encoding/json"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Stats is a cheap summary of the store for metrics and dashboards.
type Stats struct {
	Domains     int
	Users       int
	Queue       int       // queue entries, captured ones included
	QueueOldest time.Time // creation time of the oldest entry; zero when empty
}

// Stats counts domains, users and queue entries in one short read
// transaction. Queue ids grow with time, so the oldest entry is the first.
func (s *Store) Stats() Stats {
	var out Stats
	s.db.View(func(tx kv.Tx) error {
		out.Domains = tx.Bucket(bucketDomains).KeyN()
		out.Users = tx.Bucket(bucketUsers).KeyN()
		q := tx.Bucket(bucketQueue)
		out.Queue = q.KeyN()
		if _, v := q.Cursor().First(); v != nil {
			var e QueueEntry
			if json.Unmarshal(v, &e) == nil {
				out.QueueOldest = e.Created
			}
		}
		return nil
	})
	return out
}
