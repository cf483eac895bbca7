package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// DSNDelivery says what RecordDeliveryDSN committed.
type DSNDelivery struct {
	// DSN is what the notification was stored as (mailbox messages or a
	// queue id); nil when fn asked for none or it could not be stored.
	DSN *Accepted
	// DSNErr is why a notification fn asked for could not be stored (the
	// sender's mailbox is full, gone...): the attempt was then recorded
	// without it, so a permanent failure is not retried for ever.
	DSNErr error
}

// errDSNStore marks a failure of the DSN half of the transaction.
type errDSNStore struct{ err error }

func (e errDSNStore) Error() string { return e.err.Error() }

// RecordDeliveryDSN is RecordDelivery that also stores, in the SAME
// transaction, the delivery status notification fn returns for what the
// attempt failed for good (nil for none): into the sender's mailboxes
// (dsn.Local) or as a new queue entry (dsn.Remote). So a crash can lose
// neither the failure without its DSN nor the other way round. fn may run
// more than once and must only change q and build dsn (no I/O).
//
// When the DSN cannot be stored, the attempt is committed without it and
// the reason is returned in DSNDelivery.DSNErr.
func (s *Store) RecordDeliveryDSN(id string, fn func(q *QueueEntry) (dsn *Incoming, err error)) (DSNDelivery, error) {
	var res DSNDelivery
	var dsn *Incoming
	run := func(withDSN bool) error {
		return s.commits.do(func(tx kv.Tx) error {
			res.DSN, dsn = nil, nil
			now := time.Now().UTC()
			return updateQueueTx(tx, id, func(q *QueueEntry) error {
				d, err := fn(q)
				if err != nil {
					return err
				}
				if d != nil && withDSN && (len(d.Local) > 0 || len(d.Remote) > 0) {
					if !d.DSN || d.From != "" {
						return errors.New("recording delivery: a DSN must be marked DSN and come from <>")
					}
					acc, err := s.acceptTx(tx, d, now, true, nil)
					if err != nil {
						return errDSNStore{fmt.Errorf("storing DSN: %w", err)}
					}
					res.DSN, dsn = acc, d
				}
				return nil
			})
		})
	}
	err := run(true)
	var de errDSNStore
	if errors.As(err, &de) {
		res = DSNDelivery{DSNErr: de.err}
		err = run(false)
	}
	if err != nil {
		return DSNDelivery{}, err
	}
	if res.DSN != nil {
		s.afterAccept(dsn, res.DSN)
	}
	return res, nil
}
