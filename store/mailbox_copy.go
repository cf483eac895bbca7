package store

import (
	"fmt"

	"github.com/authsmtp/authsmtp/store/kv"

	"github.com/authsmtp/authsmtp/store/junk"
)

// CopyResult maps source UIDs to the UIDs of the copies.
type CopyResult struct {
	UIDValidity uint32
	SourceUIDs  []uint32
	DestUIDs    []uint32
}

// Copy copies messages to another mailbox of the same user, sharing the
// bodies. The copies keep flags and internal dates.
func (s *Store) Copy(address, mailbox string, uids []uint32, dest string) (*CopyResult, error) {
	return s.copyMove(address, mailbox, uids, dest, false)
}

// Move is Copy followed by the expunge of the originals, in one commit.
func (s *Store) Move(address, mailbox string, uids []uint32, dest string) (*CopyResult, error) {
	return s.copyMove(address, mailbox, uids, dest, true)
}

func (s *Store) copyMove(address, mailbox string, uids []uint32, dest string, move bool) (*CopyResult, error) {
	addr, mailbox, err := normAddrBox(address, mailbox)
	if err != nil {
		return nil, err
	}
	if dest, err = CanonicalMailboxName(dest); err != nil {
		return nil, err
	}
	uids = sortedUIDs(uids)
	var res *CopyResult
	var evs []Event
	var class junk.Class
	var bodyIDs []uint64
	err = s.db.Update(func(tx kv.Tx) error {
		res, evs, bodyIDs = &CopyResult{}, nil, nil
		src, _, err := getMailboxTx(tx, addr, mailbox)
		if err != nil {
			return err
		}
		dst, _, err := getMailboxTx(tx, addr, dest)
		if err != nil {
			return err
		}
		res.UIDValidity = dst.UIDValidity
		class = filedClass(src, dst)
		srcb := tx.Bucket(bucketMessages).Bucket(u64(src.ID))
		var msgs []*Message
		var total int64
		for _, uid := range uids {
			v := srcb.Get(u32(uid))
			if v == nil {
				continue
			}
			m, err := decodeMessage(v)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
			total += m.Size
		}
		if len(msgs) == 0 {
			return nil
		}
		quota := s.quotaTx(tx, addr)
		if !move && quota > 0 && usageTx(tx, addr)+total > quota {
			return ErrOverQuota
		}
		for _, m := range msgs {
			if err := refBody(tx, m.BodyID); err != nil {
				return err
			}
			c, err := appendTx(tx, addr, dest, m.BodyID, m.Size, m.Flags, m.Date, 0)
			if err != nil {
				return err
			}
			bodyIDs = append(bodyIDs, m.BodyID)
			res.SourceUIDs = append(res.SourceUIDs, m.UID)
			res.DestUIDs = append(res.DestUIDs, c.UID)
			evs = append(evs, Event{Kind: EventNew, Address: addr, Mailbox: dest, UID: c.UID, Flags: c.Flags, ModSeq: c.ModSeq})
		}
		if move {
			ex, err := expungeTx(tx, addr, mailbox, res.SourceUIDs, false)
			if err != nil {
				return err
			}
			evs = append(evs, ex...)
		}
		return nil
	})
	if err != nil {
		if move {
			return nil, fmt.Errorf("moving messages: %w", err)
		}
		return nil, fmt.Errorf("copying messages: %w", err)
	}
	s.Events.Publish(evs...)
	s.learn(addr, class, bodyIDs)
	return res, nil
}

// Expunge removes messages for good: the given UIDs, or when uids is nil
// every message flagged \Deleted. It returns the UIDs removed.
func (s *Store) Expunge(address, mailbox string, uids []uint32) ([]uint32, error) {
	return s.expunge(address, mailbox, uids, uids == nil)
}

// ExpungeDeleted removes the messages among within (all when nil) that
// are flagged \Deleted (IMAP EXPUNGE and UID EXPUNGE).
func (s *Store) ExpungeDeleted(address, mailbox string, within []uint32) ([]uint32, error) {
	return s.expunge(address, mailbox, within, true)
}

func (s *Store) expunge(address, mailbox string, uids []uint32, onlyDeleted bool) ([]uint32, error) {
	addr, mailbox, err := normAddrBox(address, mailbox)
	if err != nil {
		return nil, err
	}
	var evs []Event
	err = s.db.Update(func(tx kv.Tx) error {
		evs, err = expungeTx(tx, addr, mailbox, uids, onlyDeleted)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("expunging: %w", err)
	}
	s.Events.Publish(evs...)
	out := make([]uint32, len(evs))
	for i, e := range evs {
		out[i] = e.UID
	}
	return out, nil
}

// expungeTx deletes messages (uids nil: all) and returns their events.
func expungeTx(tx kv.Tx, addr, mailbox string, uids []uint32, onlyDeleted bool) ([]Event, error) {
	mb, ub, err := getMailboxTx(tx, addr, mailbox)
	if err != nil {
		return nil, err
	}
	mbk := tx.Bucket(bucketMessages).Bucket(u64(mb.ID))
	var victims []msgHead
	consider := func(v []byte) error {
		h, err := decodeHead(v)
		if err != nil {
			return err
		}
		if !onlyDeleted || h.bits&flagDeleted != 0 {
			victims = append(victims, h)
		}
		return nil
	}
	if uids == nil {
		if err := mbk.ForEach(func(k, v []byte) error { return consider(v) }); err != nil {
			return nil, err
		}
	} else {
		for _, uid := range sortedUIDs(uids) {
			if v := mbk.Get(u32(uid)); v != nil {
				if err := consider(v); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(victims) == 0 {
		return nil, nil
	}
	var evs []Event
	for _, h := range victims {
		if err := mbk.Delete(u32(h.uid)); err != nil {
			return nil, err
		}
		if err := unrefBody(tx, h.bodyID); err != nil {
			return nil, err
		}
		mb.Messages--
		mb.Size -= h.size
		if h.bits&flagSeen == 0 {
			mb.Unseen--
		}
		mb.HighestModSeq++
		evs = append(evs, Event{Kind: EventExpunge, Address: addr, Mailbox: mailbox, UID: h.uid, ModSeq: mb.HighestModSeq})
	}
	return evs, putJSON(ub, mailbox, mb)
}
