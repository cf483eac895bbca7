package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// LocalRcpt is a hosted recipient and the mailbox the message goes to.
type LocalRcpt struct {
	Address string
	Mailbox string   // "" means INBOX
	Flags   []string // initial flags (\Seen for a Sent copy)
	// Header is put on top of this recipient's copy only (the junk
	// filter's verdict for this user); such a copy gets its own body.
	Header []byte
}

// Incoming is one accepted message and where it goes: local mailboxes
// (delivered in the same commit) and remote recipients (queued).
type Incoming struct {
	From     string // envelope sender; "" is the null sender <>
	Login    string // the login that submitted it; "" for mail from the MX
	Local    []LocalRcpt
	Remote   []string
	Body     []byte // CRLF line endings, headers included
	Captured bool   // demo mode: remote recipients are kept, never delivered
	DSN      bool   // the message is a bounce
	Subject  string // for queue listings
	// Service and CID name the session that accepted it, as its log
	// lines do (service=submission cid=7), so the queue links to the log.
	Service, CID string
}

// Accepted says what Accept stored.
type Accepted struct {
	QueueID  string     // "" when nothing was queued; the first of QueueIDs
	QueueIDs []string   // every queue entry made (Delivery.Commit may make several)
	Local    []*Message // one per Local recipient, same order
}

// Accept stores a message for all its recipients in one transaction,
// shared with concurrent acceptances (group commit, groupcommit.go),
// and returns after the commit is fsynced. Only then may the caller
// acknowledge the message. Events are published after the commit.
func (s *Store) Accept(in *Incoming) (*Accepted, error) {
	if len(in.Local) == 0 && len(in.Remote) == 0 {
		return nil, errors.New("accept: no recipients")
	}
	now := time.Now().UTC()
	ahead, err := s.writeAhead(in)
	if err != nil {
		return nil, err
	}
	var res *Accepted
	err = s.commits.doSized(len(in.Body), func(tx kv.Tx) error {
		// This may run more than once: only tx state and res here.
		var err error
		res, err = s.acceptTx(tx, in, now, true, ahead)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.afterAccept(in, res)
	return res, nil
}

// sharedRefs is how many references the shared body of in gets: each
// local copy without a header of its own, and the queue entry.
func sharedRefs(in *Incoming) uint32 {
	refs := uint32(0)
	for _, r := range in.Local {
		if len(r.Header) == 0 {
			refs++
		}
	}
	if len(in.Remote) > 0 {
		refs++
	}
	return refs
}

// writeAhead writes the shared body of in to a segment before its
// transaction (segBodies.writeAhead); nil when bodies are not in segments
// or nothing shares the body.
func (s *Store) writeAhead(in *Incoming) (*bodyLoc, error) {
	if s.segs == nil || !s.segs.write || sharedRefs(in) == 0 {
		return nil, nil
	}
	loc, err := s.segs.writeAhead(in.Body)
	if err != nil {
		return nil, err
	}
	return &loc, nil
}

// acceptTx stores in within tx: the body (already in a segment at ahead,
// when not nil), the local deliveries and the queue entry for the remote
// recipients; count adds it to the traffic statistics. It has no effect
// outside tx.
func (s *Store) acceptTx(tx kv.Tx, in *Incoming, now time.Time, count bool, ahead *bodyLoc) (*Accepted, error) {
	res := &Accepted{}
	if count {
		recordTrafficTx(tx, trafficKey(s.Shared(), in), in, now)
	}
	if err := recordSpamStatsTx(tx, in, now); err != nil {
		return nil, err
	}
	refs := sharedRefs(in)
	var bodyID uint64
	if refs > 0 {
		var err error
		if ahead != nil {
			bodyID, err = s.putBodyAt(tx, *ahead, refs)
		} else {
			bodyID, err = s.putBody(tx, in.Body, refs)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, r := range in.Local {
		bodyID, size := bodyID, int64(len(in.Body))
		if len(r.Header) > 0 {
			own := make([]byte, 0, len(r.Header)+len(in.Body))
			own = append(append(own, r.Header...), in.Body...)
			var err error
			if bodyID, err = s.putBody(tx, own, 1); err != nil {
				return nil, err
			}
			size = int64(len(own))
		}
		addr, err := NormalizeAddress(r.Address)
		if err != nil {
			return nil, err
		}
		mbox := r.Mailbox
		if mbox == "" {
			mbox = "INBOX"
		}
		m, err := appendTx(tx, addr, mbox, bodyID, size, r.Flags, now, s.quotaTx(tx, addr))
		if errors.Is(err, ErrNoSuchMailbox) && mbox == "INBOX" && ensureHeldInboxTx(tx, addr) == nil {
			// postmaster@ or abuse@ held for a domain without a postmaster.
			m, err = appendTx(tx, addr, mbox, bodyID, size, r.Flags, now, s.quotaTx(tx, addr))
		}
		if errors.Is(err, ErrNoSuchMailbox) && mbox != "INBOX" {
			// A folder the user deleted (Junk, Captured): create it again.
			if _, err = createMailboxTx(tx, addr, mbox, ""); err == nil {
				m, err = appendTx(tx, addr, mbox, bodyID, size, r.Flags, now, s.quotaTx(tx, addr))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("delivering to %s: %w", addr, err)
		}
		res.Local = append(res.Local, m)
	}
	if len(in.Remote) > 0 {
		q := QueueEntry{ID: newQueueID(tx), From: in.From, Login: in.Login, BodyID: bodyID, Size: int64(len(in.Body)),
			Service: in.Service, CID: in.CID,
			Created: now, NextAttempt: now, Captured: in.Captured, DSN: in.DSN, Subject: in.Subject}
		for _, r := range in.Remote {
			q.Rcpts = append(q.Rcpts, QueueRcpt{Address: r, Status: RcptPending})
		}
		if err := putJSON(tx.Bucket(bucketQueue), q.ID, q); err != nil {
			return nil, err
		}
		res.QueueID, res.QueueIDs = q.ID, []string{q.ID}
	}
	return res, nil
}

// afterAccept publishes the events of a committed acceptance and wakes
// the delivery workers when it queued mail.
func (s *Store) afterAccept(in *Incoming, res *Accepted) {
	var evs []Event
	for i, r := range in.Local {
		addr, _ := NormalizeAddress(r.Address)
		mbox := r.Mailbox
		if mbox == "" {
			mbox = "INBOX"
		}
		m := res.Local[i]
		evs = append(evs, Event{Kind: EventNew, Address: addr, Mailbox: mbox, UID: m.UID, Flags: m.Flags, ModSeq: m.ModSeq})
	}
	s.Events.Publish(evs...)
	if in.Login != "" {
		s.learnSent(in)
	}
	if res.QueueID != "" && s.queueKick != nil {
		s.queueKick()
	}
}

// OnQueued sets a function called after a commit that queued mail, so the
// delivery workers wake at once instead of polling.
func (s *Store) OnQueued(fn func()) { s.queueKick = fn }

// QuotaLeft reports whether a user can take size more bytes (for a check
// at RCPT time, before the body is read).
func (s *Store) QuotaLeft(address string, size int64) bool {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return false
	}
	ok := true
	s.db.View(func(tx kv.Tx) error {
		q := s.quotaTx(tx, addr)
		ok = q <= 0 || usageTx(tx, addr)+size <= q
		return nil
	})
	return ok
}
