package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// FileCaptured puts a copy of a captured message (demo mode) into its
// user login's "Captured" folder and marks the entry filed, in one
// transaction: with several nodes on one database every node's queue
// runner sees the entry unfiled, and only the transaction that marks it
// filed also files the copy, so the folder gets it exactly once. An entry
// of a domain login (no mailbox), or of a user removed since, is only
// marked. filed reports whether this call put the copy in.
func (s *Store) FileCaptured(id string) (filed bool, err error) {
	now := time.Now().UTC()
	var in *Incoming
	var res *Accepted
	err = s.db.Update(func(tx kv.Tx) error {
		in, res = nil, nil // this may run more than once
		b := tx.Bucket(bucketQueue)
		var q QueueEntry
		if !getJSON(b, id, &q) {
			return fmt.Errorf("queue entry %s %w", id, ErrNotFound)
		}
		if !q.Captured || q.Filed {
			return nil
		}
		if strings.Contains(q.Login, "@") && tx.Bucket(bucketUsers).Get([]byte(q.Login)) != nil {
			body, _, err := s.bodies.read(tx, q.BodyID, nil)
			if err != nil {
				return fmt.Errorf("body of captured %s: %w", id, err)
			}
			in = &Incoming{From: q.From, Login: q.Login, Body: body, Subject: q.Subject,
				Local: []LocalRcpt{{Address: q.Login, Mailbox: "Captured"}}}
			if res, err = s.acceptTx(tx, in, now, true, nil); err != nil {
				return err
			}
		}
		q.Filed = true
		return putJSON(b, id, q)
	})
	if err != nil || res == nil {
		return false, err
	}
	s.afterAccept(in, res)
	return true, nil
}
