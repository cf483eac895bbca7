package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/authsmtp/authsmtp/store/kv"

	"github.com/authsmtp/authsmtp/store/junk"
)

// FlagOp says how SetFlags combines the given flags with a message's.
type FlagOp int

const (
	FlagsAdd     FlagOp = iota + 1 // +FLAGS
	FlagsRemove                    // -FLAGS
	FlagsReplace                   // FLAGS
)

// MsgState is what a session needs to number messages and report changes.
type MsgState struct {
	UID    uint32
	ModSeq uint64
	Seen   bool
}

// MailboxState returns a mailbox's record and the state of every message
// in UID order (SELECT).
func (s *Store) MailboxState(address, mailbox string) (*Mailbox, []MsgState, error) {
	return s.MessagesAfter(address, mailbox, 0)
}

// MessagesAfter is MailboxState for the messages with UIDs above after.
func (s *Store) MessagesAfter(address, mailbox string, after uint32) (*Mailbox, []MsgState, error) {
	addr, mailbox, err := normAddrBox(address, mailbox)
	if err != nil {
		return nil, nil, err
	}
	var mb *Mailbox
	var out []MsgState
	err = s.db.View(func(tx kv.Tx) error {
		if mb, _, err = getMailboxTx(tx, addr, mailbox); err != nil {
			return err
		}
		if mb.Messages > 0 && after == 0 {
			out = make([]MsgState, 0, mb.Messages)
		}
		c := tx.Bucket(bucketMessages).Bucket(u64(mb.ID)).Cursor()
		for k, v := c.Seek(u32(after + 1)); k != nil; k, v = c.Next() {
			h, err := decodeHead(v)
			if err != nil {
				return err
			}
			out = append(out, MsgState{UID: h.uid, ModSeq: h.modseq, Seen: h.bits&flagSeen != 0})
		}
		return nil
	})
	return mb, out, err
}

// fetchChunk bounds how many messages (and body bytes) one read
// transaction copies out, so no transaction lives across network writes.
const (
	fetchChunk      = 512
	fetchChunkBytes = 4 << 20
)

// FetchItem is one message handed to FetchMessages' callback: its record,
// its cached parse (nil if none) and, when asked for, its body.
type FetchItem struct {
	Message *Message
	Meta    []byte
	Body    []byte
}

// FetchMessages reads the messages with the given UIDs (ascending, missing
// ones skipped) in chunks and calls fn for each outside any transaction.
func (s *Store) FetchMessages(address, mailbox string, uids []uint32, withBody bool, fn func(*FetchItem) error) error {
	addr, mailbox, err := normAddrBox(address, mailbox)
	if err != nil {
		return err
	}
	uids = sortedUIDs(uids)
	for len(uids) > 0 {
		var items []FetchItem
		var bytes int
		n := 0
		err := s.db.View(func(tx kv.Tx) error {
			mb, _, err := getMailboxTx(tx, addr, mailbox)
			if err != nil {
				return err
			}
			// UIDs ascend, and body ids mostly ascend with them: read both
			// buckets with cursors that usually just step to the next key.
			mbk := newSeqGetter(tx.Bucket(bucketMessages).Bucket(u64(mb.ID)))
			var metas *seqGetter
			if b := tx.Bucket(bucketBodyMeta); b != nil {
				metas = newSeqGetter(b)
			}
			var key [8]byte
			// The cached parses of a chunk are copied into one slab (a
			// grown slab leaves earlier items on the old array, still valid).
			var slab []byte
			items = make([]FetchItem, 0, min(len(uids), fetchChunk))
			read := 0 // bytes read through the mapping
			for n < len(uids) && n < fetchChunk && bytes < fetchChunkBytes {
				uid := uids[n]
				n++
				binary.BigEndian.PutUint32(key[:4], uid)
				v := mbk.get(key[:4])
				if v == nil {
					continue
				}
				read += len(v) + mapFaultAround
				m, err := decodeMessage(v)
				if err != nil {
					return fmt.Errorf("reading message %d: %w", uid, err)
				}
				it := FetchItem{Message: m}
				if metas != nil {
					binary.BigEndian.PutUint64(key[:], m.BodyID)
					if meta := metas.get(key[:]); meta != nil {
						if cap(slab)-len(slab) < len(meta) {
							// Room for the rest of the chunk's parses, at most
							// 64 KiB (a one-message FETCH allocates one).
							left := min(len(uids), fetchChunk) - n + 1
							slab = make([]byte, 0, max(min(64<<10, left*len(meta)), len(meta)))
						}
						at := len(slab)
						slab = append(slab, meta...)
						it.Meta = slab[at:len(slab):len(slab)]
						read += len(meta)
					}
				}
				if withBody {
					body, mapped, err := s.bodies.read(tx, m.BodyID, nil)
					if err != nil && !errors.Is(err, ErrNotFound) {
						return fmt.Errorf("message %d: %w", uid, err)
					}
					it.Body = body
					bytes += len(body)
					if mapped {
						read += len(body)
					}
				}
				items = append(items, it)
			}
			s.mapRead(tx, read)
			return nil
		})
		if err != nil {
			return err
		}
		uids = uids[n:]
		for i := range items {
			if err := fn(&items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// SearchItem is one message offered to a search predicate. Body is only
// valid during the call (it points into the database) and is nil unless
// the search asked for bodies.
type SearchItem struct {
	UID    uint32
	Date   int64 // internal date, Unix nanoseconds
	Size   int64
	ModSeq uint64
	Flags  func() []string
	Meta   []byte
	Body   []byte
}

// searchChunk is how many messages one read transaction covers: some
// 5 MiB of 10 KiB mail, so the bodies a scan maps in are trimmed from the
// resident set often enough (maptrim.go; 2,000 made RSS spikes of 40 MiB).
const searchChunk = 512

// SearchMessages calls match for each message with one of the given UIDs
// (all when uids is nil) and returns the UIDs it accepted, ascending.
// match must not block and must be safe for concurrent use: it runs
// inside short read transactions, on several cores for large mailboxes.
func (s *Store) SearchMessages(address, mailbox string, uids []uint32, withBody bool, match func(*SearchItem) bool) ([]uint32, error) {
	addr, mailbox, err := normAddrBox(address, mailbox)
	if err != nil {
		return nil, err
	}
	all := uids == nil
	uids = sortedUIDs(uids)
	var out []uint32
	var after uint32 // for all: resume after this UID
	items := make([]SearchItem, 0, searchChunk)
	var slab []byte // the chunk's bodies
	for {
		done := false
		err := s.db.View(func(tx kv.Tx) error {
			items = items[:0]
			mb, _, err := getMailboxTx(tx, addr, mailbox)
			if err != nil {
				return err
			}
			mbk := tx.Bucket(bucketMessages).Bucket(u64(mb.ID))
			slab = slab[:0]
			mappedBytes := 0
			add := func(v []byte) error {
				h, err := decodeHead(v)
				if err != nil {
					return err
				}
				it := SearchItem{UID: h.uid, Date: h.date, Size: h.size, ModSeq: h.modseq, Meta: bodyMetaTx(tx, h.bodyID)}
				it.Flags = func() []string {
					kws, _ := decodeKeywords(h.rest)
					return joinFlags(h.bits, kws)
				}
				if withBody {
					// Bodies are read into one slab per chunk; a grown
					// slab leaves earlier items on the old array.
					// A body in the bodies bucket is used in place
					// (no copy of every body of the mailbox).
					if v := bucketBodyView(tx, h.bodyID); v != nil {
						it.Body = v
						mappedBytes += len(v)
						items = append(items, it)
						return nil
					}
					at := len(slab)
					body, mapped, err := s.bodies.read(tx, h.bodyID, slab)
					if err != nil && !errors.Is(err, ErrNotFound) {
						return fmt.Errorf("message %d: %w", h.uid, err)
					}
					slab = body
					it.Body = body[at:len(body):len(body)]
					if mapped {
						mappedBytes += len(it.Body)
					}
				}
				items = append(items, it)
				return nil
			}
			if all {
				c := mbk.Cursor()
				k, v := c.Seek(u32(after + 1))
				for ; k != nil && len(items) < searchChunk; k, v = c.Next() {
					if err := add(v); err != nil {
						return err
					}
					after = beUint32(k)
				}
				done = k == nil
			} else {
				n := 0
				for ; n < len(uids) && n < searchChunk; n++ {
					if v := mbk.Get(u32(uids[n])); v != nil {
						if err := add(v); err != nil {
							return err
						}
					}
				}
				uids = uids[n:]
				done = len(uids) == 0
			}
			// Still inside the transaction: bodies point into the file.
			out = append(out, matchAll(items, match)...)
			read := mappedBytes
			for _, it := range items {
				read += len(it.Meta) + mapFaultAround
			}
			s.mapRead(tx, read)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if done {
			return out, nil
		}
	}
}

// matchAll runs match over items, split across the CPUs when there are
// enough of them to be worth it, and returns the accepted UIDs in order.
func matchAll(items []SearchItem, match func(*SearchItem) bool) []uint32 {
	workers := min(runtime.GOMAXPROCS(0), 4)
	ok := make([]bool, len(items))
	if workers < 2 || len(items) < 256 {
		for i := range items {
			ok[i] = match(&items[i])
		}
	} else {
		var wg sync.WaitGroup
		per := (len(items) + workers - 1) / workers
		for w := 0; w < workers; w++ {
			lo, hi := w*per, min((w+1)*per, len(items))
			if lo >= hi {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := lo; i < hi; i++ {
					ok[i] = match(&items[i])
				}
			}()
		}
		wg.Wait()
	}
	var out []uint32
	for i, y := range ok {
		if y {
			out = append(out, items[i].UID)
		}
	}
	return out
}

func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// SetFlags changes the flags of the given messages and returns the records
// of all of them that exist, after the change. Only messages whose flags
// changed get a new modification sequence and an event.
func (s *Store) SetFlags(address, mailbox string, uids []uint32, op FlagOp, flags []string) ([]Message, error) {
	addr, mailbox, err := normAddrBox(address, mailbox)
	if err != nil {
		return nil, err
	}
	if op < FlagsAdd || op > FlagsReplace {
		return nil, fmt.Errorf("setting flags: unknown operation %d", op)
	}
	bits, kws := splitFlags(flags)
	uids = sortedUIDs(uids)
	var out []Message
	var evs []Event
	var learnSpam, learnHam []uint64
	err = s.db.Update(func(tx kv.Tx) error {
		out, evs, learnSpam, learnHam = nil, nil, nil, nil
		mb, ub, err := getMailboxTx(tx, addr, mailbox)
		if err != nil {
			return err
		}
		mbk := tx.Bucket(bucketMessages).Bucket(u64(mb.ID))
		changed := false
		for _, uid := range uids {
			v := mbk.Get(u32(uid))
			if v == nil {
				continue
			}
			h, err := decodeHead(v)
			if err != nil {
				return err
			}
			oldKws, err := decodeKeywords(h.rest)
			if err != nil {
				return err
			}
			nb, nk := applyFlags(h.bits, oldKws, op, bits, kws)
			m, _ := h.message()
			if nb != h.bits || !sameKeywords(oldKws, nk) {
				mb.HighestModSeq++
				m.ModSeq = mb.HighestModSeq
				m.Flags = joinFlags(nb, nk)
				if err := mbk.Put(u32(uid), encodeMessage(m)); err != nil {
					return err
				}
				if (h.bits&flagSeen != 0) != (nb&flagSeen != 0) {
					if nb&flagSeen != 0 {
						mb.Unseen--
					} else {
						mb.Unseen++
					}
				}
				changed = true
				switch flagClass(mb, h.bits, nb, oldKws, nk) {
				case junk.Spam:
					learnSpam = append(learnSpam, h.bodyID)
				case junk.Ham:
					learnHam = append(learnHam, h.bodyID)
				}
				evs = append(evs, Event{Kind: EventFlags, Address: addr, Mailbox: mailbox, UID: uid, Flags: m.Flags, ModSeq: m.ModSeq})
			}
			out = append(out, *m)
		}
		if changed {
			return putJSON(ub, mailbox, mb)
		}
		return errNoChange // roll back: no commit, no fsync
	})
	if err == errNoChange {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("setting flags: %w", err)
	}
	s.Events.Publish(evs...)
	s.learn(addr, junk.Spam, learnSpam)
	s.learn(addr, junk.Ham, learnHam)
	return out, nil
}

// errNoChange rolls back a write transaction that changed nothing.
var errNoChange = errors.New("nothing changed")

func applyFlags(bits byte, kws []string, op FlagOp, addBits byte, addKws []string) (byte, []string) {
	switch op {
	case FlagsReplace:
		return addBits, addKws
	case FlagsAdd:
		out := append([]string(nil), kws...)
		for _, k := range addKws {
			if !containsFold(out, k) {
				out = append(out, k)
			}
		}
		return bits | addBits, out
	default:
		var out []string
		for _, k := range kws {
			if !containsFold(addKws, k) {
				out = append(out, k)
			}
		}
		return bits &^ addBits, out
	}
}

func containsFold(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func sameKeywords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !containsFold(b, x) {
			return false
		}
	}
	return true
}
