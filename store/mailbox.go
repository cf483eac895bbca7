package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// DefaultMailboxes are created for every user, with their SPECIAL-USE
// attribute (RFC 6154).
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{"INBOX", ""}, {"Sent", `\Sent`}, {"Drafts", `\Drafts`}, {"Trash", `\Trash`},
	{"Junk", `\Junk`}, {"Archive", `\Archive`},
}

// Errors of mailbox operations.
var (
	ErrNoSuchMailbox = errors.New("no such mailbox")
	ErrOverQuota     = errors.New("mailbox is over quota")
)

// Mailbox is one folder of a user. UIDValidity never changes for the life
// of the mailbox; UIDNext only grows, so a UID is never used twice in it.
type Mailbox struct {
	ID            uint64 `json:"id"`
	Name          string `json:"name"`
	UIDValidity   uint32 `json:"uid_validity"`
	UIDNext       uint32 `json:"uid_next"`
	HighestModSeq uint64 `json:"highest_modseq"`
	SpecialUse    string `json:"special_use,omitempty"`
	Subscribed    bool   `json:"subscribed"`
	Messages      int    `json:"messages"`
	Unseen        int    `json:"unseen"`
	Size          int64  `json:"size"`
}

// Message is the small per-message record; the body is in bodies.
type Message struct {
	UID    uint32    `json:"uid"`
	Flags  []string  `json:"flags,omitempty"`
	Date   time.Time `json:"date"` // internal date
	Size   int64     `json:"size"`
	BodyID uint64    `json:"body"`
	ModSeq uint64    `json:"modseq"`
}

// HasFlag reports whether the message has flag f (flags compare without
// regard to case, RFC 3501 §2.3.2).
func (m *Message) HasFlag(f string) bool {
	for _, x := range m.Flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

func userMailboxes(tx kv.Tx, addr string, create bool) (kv.Bucket, error) {
	root := tx.Bucket(bucketMailboxes)
	if create {
		return root.CreateBucketIfNotExists([]byte(addr))
	}
	b := root.Bucket([]byte(addr))
	if b == nil {
		return nil, fmt.Errorf("%w for %s", ErrNoSuchMailbox, addr)
	}
	return b, nil
}

// createMailboxTx creates one mailbox; UIDVALIDITY is taken from the
// global sequence, so a mailbox deleted and created again gets a new one.
func createMailboxTx(tx kv.Tx, addr, name, specialUse string) (*Mailbox, error) {
	ub, err := userMailboxes(tx, addr, true)
	if err != nil {
		return nil, err
	}
	if ub.Get([]byte(name)) != nil {
		return nil, fmt.Errorf("mailbox %s %w", name, ErrExists)
	}
	id := nextSeq(tx)
	mb := &Mailbox{ID: id, Name: name, UIDValidity: uint32(id), UIDNext: 1, HighestModSeq: 1, SpecialUse: specialUse, Subscribed: true}
	if _, err := tx.Bucket(bucketMessages).CreateBucket(u64(id)); err != nil {
		return nil, err
	}
	return mb, putJSON(ub, name, mb)
}

func ensureDefaultMailboxes(tx kv.Tx, addr string) error {
	ub, err := userMailboxes(tx, addr, true)
	if err != nil {
		return err
	}
	for _, d := range DefaultMailboxes {
		if ub.Get([]byte(d.Name)) == nil {
			if _, err := createMailboxTx(tx, addr, d.Name, d.SpecialUse); err != nil {
				return err
			}
		}
	}
	return nil
}

func deleteAllMailboxes(tx kv.Tx, addr string) error {
	ub := tx.Bucket(bucketMailboxes).Bucket([]byte(addr))
	if ub == nil {
		return nil
	}
	var names []string
	ub.ForEach(func(k, v []byte) error { names = append(names, string(k)); return nil })
	for _, n := range names {
		if err := deleteMailboxTx(tx, addr, n); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMailboxes).DeleteBucket([]byte(addr))
}

func deleteMailboxTx(tx kv.Tx, addr, name string) error {
	ub, err := userMailboxes(tx, addr, false)
	if err != nil {
		return err
	}
	var mb Mailbox
	if !getJSON(ub, name, &mb) {
		return fmt.Errorf("%w: %s", ErrNoSuchMailbox, name)
	}
	msgs := tx.Bucket(bucketMessages)
	if mbk := msgs.Bucket(u64(mb.ID)); mbk != nil {
		if err := mbk.ForEach(func(k, v []byte) error {
			h, err := decodeHead(v)
			if err != nil {
				return err
			}
			return unrefBody(tx, h.bodyID)
		}); err != nil {
			return err
		}
		if err := msgs.DeleteBucket(u64(mb.ID)); err != nil {
			return err
		}
	}
	return ub.Delete([]byte(name))
}

func getMailboxTx(tx kv.Tx, addr, name string) (*Mailbox, kv.Bucket, error) {
	ub, err := userMailboxes(tx, addr, false)
	if err != nil {
		return nil, nil, err
	}
	var mb Mailbox
	if !getJSON(ub, name, &mb) {
		return nil, nil, fmt.Errorf("%w: %s", ErrNoSuchMailbox, name)
	}
	return &mb, ub, nil
}

// usageTx sums the sizes of all of a user's mailboxes.
func usageTx(tx kv.Tx, addr string) int64 {
	ub := tx.Bucket(bucketMailboxes).Bucket([]byte(addr))
	if ub == nil {
		return 0
	}
	var n int64
	ub.ForEach(func(k, v []byte) error {
		var mb Mailbox
		if json.Unmarshal(v, &mb) == nil {
			n += mb.Size
		}
		return nil
	})
	return n
}

// appendTx adds a message with an existing body (whose reference the
// caller has counted) to a mailbox and returns its record. quota is the
// user's limit in bytes (0: none).
func appendTx(tx kv.Tx, addr, name string, bodyID uint64, size int64, flags []string, date time.Time, quota int64) (*Message, error) {
	mb, ub, err := getMailboxTx(tx, addr, name)
	if err != nil {
		return nil, err
	}
	if quota > 0 && usageTx(tx, addr)+size > quota {
		return nil, ErrOverQuota
	}
	bits, kws := splitFlags(flags)
	mb.HighestModSeq++
	m := &Message{UID: mb.UIDNext, Flags: joinFlags(bits, kws), Date: date.UTC(), Size: size, BodyID: bodyID, ModSeq: mb.HighestModSeq}
	mb.UIDNext++
	mb.Messages++
	mb.Size += size
	if bits&flagSeen == 0 {
		mb.Unseen++
	}
	if err := tx.Bucket(bucketMessages).Bucket(u64(mb.ID)).Put(u32(m.UID), encodeMessage(m)); err != nil {
		return nil, err
	}
	return m, putJSON(ub, name, mb)
}

// ListMailboxes returns a user's mailboxes sorted by name, INBOX first.
func (s *Store) ListMailboxes(address string) ([]Mailbox, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	var out []Mailbox
	err = s.db.View(func(tx kv.Tx) error {
		ub, err := userMailboxes(tx, addr, false)
		if err != nil {
			return err
		}
		return ub.ForEach(func(k, v []byte) error {
			var mb Mailbox
			if err := json.Unmarshal(v, &mb); err != nil {
				return err
			}
			out = append(out, mb)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == "INBOX") != (out[j].Name == "INBOX") {
			return out[i].Name == "INBOX"
		}
		return out[i].Name < out[j].Name
	})
	return out, err
}

// ListMessages returns the records of a mailbox in UID order.
func (s *Store) ListMessages(address, mailbox string) ([]Message, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	var out []Message
	err = s.db.View(func(tx kv.Tx) error {
		mb, _, err := getMailboxTx(tx, addr, mailbox)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMessages).Bucket(u64(mb.ID)).ForEach(func(k, v []byte) error {
			m, err := decodeMessage(v)
			if err != nil {
				return fmt.Errorf("reading message %d: %w", binary.BigEndian.Uint32(k), err)
			}
			out = append(out, *m)
			return nil
		})
	})
	return out, err
}

// Body returns a copy of a stored body.
func (s *Store) Body(id uint64) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx kv.Tx) error {
		var err error
		out, _, err = s.bodies.read(tx, id, nil)
		return err
	})
	return out, err
}

// Append stores a message in a user's mailbox (IMAP APPEND, Sent copies).
func (s *Store) Append(address, mailbox string, body []byte, flags []string, date time.Time) (*Message, error) {
	return s.AppendMeta(address, mailbox, body, flags, date, nil)
}

// AppendMeta is Append with a cached parse of the body (see BodyMeta),
// stored in the same transaction so FETCH never parses the body again.
func (s *Store) AppendMeta(address, mailbox string, body []byte, flags []string, date time.Time, meta []byte) (*Message, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	if mailbox, err = CanonicalMailboxName(mailbox); err != nil {
		return nil, err
	}
	if date.IsZero() {
		date = time.Now()
	}
	var m *Message
	err = s.db.Update(func(tx kv.Tx) error {
		quota := s.quotaTx(tx, addr)
		id, err := s.putBody(tx, body, 1)
		if err != nil {
			return err
		}
		if meta != nil {
			if err := putBodyMeta(tx, id, meta); err != nil {
				return err
			}
		}
		m, err = appendTx(tx, addr, mailbox, id, int64(len(body)), flags, date, quota)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("appending to %s: %w", mailbox, err)
	}
	s.Events.Publish(Event{Kind: EventNew, Address: addr, Mailbox: mailbox, UID: m.UID, Flags: m.Flags, ModSeq: m.ModSeq})
	return m, nil
}

// SetDefaultQuota sets the quota of users without their own (0: unlimited).
// Set from serve's flag.
func (s *Store) SetDefaultQuota(n int64) { s.defaultQuota.Store(n) }

func (s *Store) quotaTx(tx kv.Tx, addr string) int64 {
	var u User
	if getRecord(s.records, tx.Bucket(bucketUsers), addr, &u) && u.Quota > 0 {
		return u.Quota
	}
	return s.defaultQuota.Load()
}

// putBody stores a body with refs references and returns its id.
func (s *Store) putBody(tx kv.Tx, body []byte, refs uint32) (uint64, error) {
	id := nextSeq(tx)
	if err := s.bodies.put(tx, id, body); err != nil {
		return 0, err
	}
	return id, tx.Bucket(bucketBodyRefs).Put(u64(id), u32(refs))
}

// putBodyAt records a body written ahead to a segment at loc, with refs
// references, and returns its id; the transaction's flush syncs it.
func (s *Store) putBodyAt(tx kv.Tx, loc bodyLoc, refs uint32) (uint64, error) {
	s.segs.w.putInTx(loc.seg)
	id := nextSeq(tx)
	if err := putBodyLocTx(tx, id, loc); err != nil {
		return 0, err
	}
	return id, tx.Bucket(bucketBodyRefs).Put(u64(id), u32(refs))
}

// refBody adds one reference to a body (COPY).
func refBody(tx kv.Tx, id uint64) error {
	b := tx.Bucket(bucketBodyRefs)
	v := b.Get(u64(id))
	if len(v) != 4 {
		return fmt.Errorf("body %d %w", id, ErrNotFound)
	}
	return b.Put(u64(id), u32(binary.BigEndian.Uint32(v)+1))
}

// unrefBody drops one reference and deletes the body (and its cached
// parse) at zero.
func unrefBody(tx kv.Tx, id uint64) error {
	b := tx.Bucket(bucketBodyRefs)
	v := b.Get(u64(id))
	if len(v) != 4 || binary.BigEndian.Uint32(v) <= 1 {
		b.Delete(u64(id))
		if mb := tx.Bucket(bucketBodyMeta); mb != nil {
			mb.Delete(u64(id))
		}
		return deleteBodyTx(tx, id)
	}
	return b.Put(u64(id), u32(binary.BigEndian.Uint32(v)-1))
}
