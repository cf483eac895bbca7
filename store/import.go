package store

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

// EnsureMailbox creates a user's mailbox unless it exists (mail import).
// It reports whether it created it.
func (s *Store) EnsureMailbox(address, name string) (bool, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return false, err
	}
	created := false
	err = s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketUsers).Get([]byte(addr)) == nil {
			return ErrNoSuchUser
		}
		if _, _, err := getMailboxTx(tx, addr, name); err == nil {
			return nil
		} else if !errors.Is(err, ErrNoSuchMailbox) {
			return err
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
