package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ErrNoSuchUser is a hosted domain without that user (SMTP 550 5.1.1).
var ErrNoSuchUser = errors.New("no such user here")

// Route is where mail for one recipient goes.
type Route struct {
	Local  []LocalRcpt // hosted mailboxes
	Remote []string    // addresses to deliver through the queue
}

// Route resolves one recipient address: an existing user of a hosted
// domain is delivered locally; an unknown user of a hosted domain is
// ErrNoSuchUser; any other domain is remote. (Aliases, catch-all and
// forwarding extend this in rules.go.)
func (s *Store) Route(rcpt string) (Route, error) {
	addr, err := NormalizeAddress(rcpt)
	if err != nil {
		return Route{}, err
	}
	var r Route
	err = s.db.View(func(tx *bolt.Tx) error {
		dom := DomainOf(addr)
		if tx.Bucket(bucketDomains).Get([]byte(dom)) == nil {
			r.Remote = []string{addr}
			return nil
		}
		if tx.Bucket(bucketUsers).Get([]byte(addr)) != nil {
			r.Local = []LocalRcpt{{Address: addr}}
			return nil
		}
		return fmt.Errorf("%w: %s", ErrNoSuchUser, addr)
	})
	return r, err
}
