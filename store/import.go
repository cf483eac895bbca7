package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// EnsureMailbox creates a user's mailbox unless it exists (mail import).
// It reports whether it created it.
func (s *Store) EnsureMailbox(address, name string) (bool, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return false, err
	}
	if name, err = CanonicalMailboxName(name); err != nil {
		return false, err
	}
	created := false
	err = s.db.Update(func(tx kv.Tx) error {
		created = false // this may run more than once
		if tx.Bucket(bucketUsers).Get([]byte(addr)) == nil {
			return ErrNoSuchUser
		}
		if _, _, err := getMailboxTx(tx, addr, name); err == nil {
			return nil
		} else if !errors.Is(err, ErrNoSuchMailbox) {
			return err
		}
		if ub := tx.Bucket(bucketMailboxes).Bucket([]byte(addr)); ub != nil {
			if err := CheckNewMailboxName(name, mailboxNamesTx(ub)); err != nil {
				return err
			}
		}
		_, err := createMailboxTx(tx, addr, name, "")
		created = err == nil
		return err
	})
	if created {
		s.Events.Publish(Event{Kind: EventMailbox, Address: addr, Mailbox: name})
	}
	return created, err
}

// ImportMessage is one message for AppendBatch.
type ImportMessage struct {
	Body  []byte // CRLF line endings
	Flags []string
	Date  time.Time
}

// AppendBatch stores several messages in one mailbox in ONE transaction,
// so a bulk import pays one fsync per batch instead of one per message.
// Either every message is stored or none is (ErrOverQuota included).
func (s *Store) AppendBatch(address, mailbox string, msgs []ImportMessage) ([]*Message, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	if mailbox, err = CanonicalMailboxName(mailbox); err != nil {
		return nil, err
	}
	var out []*Message
	err = s.db.Update(func(tx kv.Tx) error {
		out = out[:0]
		quota := s.quotaTx(tx, addr)
		for _, m := range msgs {
			date := m.Date
			if date.IsZero() {
				date = time.Now()
			}
			id, err := s.putBody(tx, m.Body, 1)
			if err != nil {
				return err
			}
			rec, err := appendTx(tx, addr, mailbox, id, int64(len(m.Body)), m.Flags, date, quota)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("appending to %s: %w", mailbox, err)
	}
	evs := make([]Event, len(out))
	for i, m := range out {
		evs[i] = Event{Kind: EventNew, Address: addr, Mailbox: mailbox, UID: m.UID, Flags: m.Flags, ModSeq: m.ModSeq}
	}
	s.Events.Publish(evs...)
	return out, nil
}
