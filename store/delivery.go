package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// The delivery contract, used by submission, webmail and the MX (in the
// spirit of maddy's): BeginDelivery with the envelope sender, AddRecipient
// for each recipient (routed once, here), then Commit with the body, or
// Abort. Nothing is stored before Commit, and Commit stores every copy of
// the message — local mailboxes, forwarded copies, the queue entry — and
// the duplicate-suppression marker in one fsynced transaction: it all
// happens or none of it does.

// ErrDuplicate is a Commit whose DedupKey was committed before, within
// DedupWindow: nothing was stored, the message is already here.
var ErrDuplicate = errors.New("the same message was already accepted")

// DedupWindow is how long a DedupKey is remembered.
const DedupWindow = 24 * time.Hour

var bucketDedup = []byte("dedup")

// Envelope describes a delivery as a whole.
type Envelope struct {
	From  string // envelope sender; "" is the null sender <>
	Login string // the login that submitted it; "" for mail from the MX
	// Inbound marks mail from the internet (the MX): copies forwarded by
	// an alias or a user's forwarding leave with an SRS envelope sender
	// and a Delivered-To field, one queue entry per forwarding recipient.
	Inbound bool
	Size    int64 // the size announced (SIZE=), for the quota check at AddRecipient
	// Captured keeps remote copies instead of delivering them (demo mode).
	Captured bool
	DSN      bool // the message is a bounce
}

// Content is what Commit stores, known once the data is in.
type Content struct {
	Body []byte // CRLF line endings, header included
	// LocalOnly is how many bytes at the start of Body only local copies
	// get: the Return-Path field of final delivery (RFC 5321 §4.4). Other
	// copies get Body[LocalOnly:], without a copy in memory.
	LocalOnly int
	Subject   string // for queue listings
	// Local, when set, are the local copies as the caller adjusted them
	// (mailbox, a header of their own: the junk filter's verdict per
	// user); nil: Locals() as routed.
	Local []LocalRcpt
	// Service and CID name the session that accepted it (its log lines),
	// kept with the queue entries.
	Service, CID string
	// DedupKey, when set, is committed with the message; a later Commit
	// with the same key within DedupWindow stores nothing (ErrDuplicate).
	DedupKey []byte
	// Cap, when set, counts the message against a login's send caps; a
	// cap reached refuses it with a *CapError and stores nothing.
	Cap *CapCharge
}

// Recipient is one accepted recipient and where its mail goes, decided
// once when it was added.
type Recipient struct {
	Address string // canonical address
	Route   Route
}

// Delivery is one message on its way into the store. It is not safe for
// concurrent use; nothing persistent happens before Commit.
type Delivery struct {
	s     *Store
	env   Envelope
	rcpts []Recipient
	done  bool
}

// BeginDelivery starts a delivery from env.From.
func (s *Store) BeginDelivery(env Envelope) *Delivery {
	return &Delivery{s: s, env: env}
}

// AddRecipient routes rcpt and adds it. Errors: ErrBadAddress,
// ErrNoSuchUser, ErrAliasLoop, ErrOverQuota (a local mailbox cannot take
// Envelope.Size more bytes), or a storage failure. Adding an address
// already added changes nothing.
func (d *Delivery) AddRecipient(rcpt string) (Recipient, error) {
	addr, err := NormalizeAddress(rcpt)
	if err != nil {
		return Recipient{}, err
	}
	for _, r := range d.rcpts {
		if r.Address == addr {
			return r, nil
		}
	}
	route, err := d.s.Route(addr)
	if err != nil {
		return Recipient{}, err
	}
	for _, l := range route.Local {
		if !d.s.QuotaLeft(l.Address, d.env.Size) {
			return Recipient{}, fmt.Errorf("%w: %s", ErrOverQuota, l.Address)
		}
	}
	r := Recipient{Address: addr, Route: route}
	d.rcpts = append(d.rcpts, r)
	return r, nil
}

// Recipients returns the recipients added so far, in order.
func (d *Delivery) Recipients() []Recipient { return d.rcpts }

// Locals returns the hosted mailboxes the recipients reach, each once.
func (d *Delivery) Locals() []LocalRcpt {
	var local []LocalRcpt
	seen := map[string]bool{}
	for _, r := range d.rcpts {
		for _, l := range r.Route.Local {
			if k := l.Address + "\x00" + l.Mailbox; !seen[k] {
				seen[k] = true
				local = append(local, l)
			}
		}
	}
	return local
}

// Abort ends the delivery without storing anything.
func (d *Delivery) Abort() { d.done = true }

// Commit stores m for every recipient in one transaction, shared with concurrent commits (group
// commit), and returns after it is fsynced: only then may the message be
// acknowledged. The delivery is over afterwards, whatever the result.
func (d *Delivery) Commit(m Content) (*Accepted, error) {
	if d.done {
		return nil, errors.New("delivery already committed or aborted")
	}
	d.done = true
	parts := d.parts(m)
	if len(parts) == 0 {
		return nil, errors.New("accept: no recipients")
	}
	now := time.Now().UTC()
	var res *Accepted
	size := 0
	aheads := make([]*bodyLoc, len(parts))
	for i, in := range parts {
		size += len(in.Body)
		var err error
		if aheads[i], err = d.s.writeAhead(in); err != nil {
			return nil, err
		}
	}
	var limits SendLimits
	if m.Cap != nil {
		caps := d.s.Caps
		limits = caps.withDefaults(m.Cap.Limits)
		if caps.shared == nil {
			// The counts are this process's, in memory.
			if err := caps.take(now, m.Cap.Login, limits, m.Cap.Rcpts); err != nil {
				return nil, err
			}
		}
	}
	err := d.s.commits.doSized(size, func(tx kv.Tx) error {
		// This may run more than once: only tx state and res here.
		res = &Accepted{}
		if m.Cap != nil && d.s.Caps.shared != nil {
			// Refused: the error rolls this message back (a group
			// commit re-runs it alone, and it is refused again).
			if err := takeSendIn(tx.Bucket(bucketLimits), now, m.Cap.Login, limits, m.Cap.Rcpts); err != nil {
				return err
			}
		}
		if m.DedupKey != nil {
			if seenTx(tx, m.DedupKey, now) {
				return ErrDuplicate
			}
			if err := markSeenTx(tx, m.DedupKey, now); err != nil {
				return err
			}
		}
		for i, in := range parts {
			r, err := d.s.acceptTx(tx, in, now, i == 0, aheads[i])
			if err != nil {
				return err
			}
			res.Local = append(res.Local, r.Local...)
			if r.QueueID != "" {
				res.QueueIDs = append(res.QueueIDs, r.QueueID)
			}
		}
		if len(res.QueueIDs) > 0 {
			res.QueueID = res.QueueIDs[0]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	local := 0
	for _, in := range parts {
		d.s.afterAccept(in, &Accepted{Local: res.Local[local : local+len(in.Local)], QueueID: res.QueueID})
		local += len(in.Local)
	}
	d.s.pruneDedupSoon(now)
	return res, nil
}

// parts splits the delivery into the copies that share a body: local
// mailboxes and remote recipients with the envelope sender, and for
// inbound mail one part per forwarding recipient.
func (d *Delivery) parts(m Content) []*Incoming {
	env, body := d.env, m.Body[m.LocalOnly:]
	main := &Incoming{From: env.From, Login: env.Login, Captured: env.Captured, DSN: env.DSN, Subject: m.Subject, Body: body,
		Service: m.Service, CID: m.CID, Local: m.Local}
	if main.Local == nil {
		main.Local = d.Locals()
	}
	var forwards []*Incoming
	seen := map[string]bool{}
	for _, r := range d.rcpts {
		if env.Inbound && r.Route.Forwarded && len(r.Route.Remote) > 0 {
			// Our SRS sender keeps SPF passing at the next hop, and
			// Delivered-To lets us spot the message coming back.
			forwards = append(forwards, &Incoming{From: d.s.SRSForward(env.From, DomainOf(r.Address)),
				Remote: r.Route.Remote, Captured: env.Captured, Subject: m.Subject, Service: m.Service, CID: m.CID,
				Body: prepend("Delivered-To: "+r.Address+"\r\n", body)})
			continue
		}
		for _, a := range r.Route.Remote {
			if !seen["r:"+a] {
				seen["r:"+a] = true
				main.Remote = append(main.Remote, a)
			}
		}
	}
	var parts []*Incoming
	if m.LocalOnly > 0 && len(main.Local) > 0 && len(main.Remote) > 0 {
		// The local copies have their own body: split them.
		remote := *main
		remote.Local, main.Remote = nil, nil
		parts = append(parts, &remote)
	}
	if len(main.Local) > 0 {
		main.Body = m.Body
	}
	if len(main.Local) > 0 || len(main.Remote) > 0 {
		parts = append([]*Incoming{main}, parts...)
	}
	return append(parts, forwards...)
}

func prepend(field string, body []byte) []byte {
	out := make([]byte, 0, len(field)+len(body))
	return append(append(out, field...), body...)
}

// Seen reports whether a message with this DedupKey was committed within
// DedupWindow (a quick check before the work of accepting it; Commit
// checks again).
func (s *Store) Seen(key []byte) bool {
	seen := false
	s.db.View(func(tx kv.Tx) error {
		seen = seenTx(tx, key, time.Now())
		return nil
	})
	return seen
}

// MarkSeen commits key as seen without a message (a message the MX
// dropped on a milter's word: a retry is dropped too).
func (s *Store) MarkSeen(key []byte) error {
	return s.db.Update(func(tx kv.Tx) error { return markSeenTx(tx, key, time.Now()) })
}

func seenTx(tx kv.Tx, key []byte, now time.Time) bool {
	b := tx.Bucket(bucketDedup)
	if b == nil {
		return false
	}
	v := b.Get(key)
	return len(v) == 8 && now.Sub(time.Unix(int64(binary.BigEndian.Uint64(v)), 0)) < DedupWindow
}

func markSeenTx(tx kv.Tx, key []byte, now time.Time) error {
	b, err := tx.CreateBucketIfNotExists(bucketDedup)
	if err != nil {
		return err
	}
	return b.Put(key, u64(uint64(now.Unix())))
}

// pruneDedupSoon drops expired dedup markers, at most once an hour (a
// separate transaction).
func (s *Store) pruneDedupSoon(now time.Time) {
	last := s.dedupPruned.Load()
	if now.Unix()-last < 3600 || !s.dedupPruned.CompareAndSwap(last, now.Unix()) {
		return
	}
	s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketDedup)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) != 8 || now.Sub(time.Unix(int64(binary.BigEndian.Uint64(v)), 0)) >= DedupWindow {
				c.Delete()
			}
		}
		return nil
	})
}
