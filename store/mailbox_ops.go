package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Mailbox operations shared by IMAP and webmail. Each runs in one
// transaction and publishes its events on s.Events after the commit.

// Errors of folder operations.
var (
	ErrMailboxHasChildren = errors.New("the mailbox has subfolders: delete or move them first")
	ErrInboxProtected     = errors.New("INBOX cannot be deleted or renamed")
	ErrTooManyMailboxes   = errors.New("too many mailboxes")
	ErrBadSpecialUse      = errors.New("unknown special-use attribute")
)

var specialUses = []string{`\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`}

func canonicalSpecialUse(su string) (string, error) {
	if su == "" {
		return "", nil
	}
	for _, x := range specialUses {
		if strings.EqualFold(x, su) {
			return x, nil
		}
	}
	return "", fmt.Errorf("%w %q", ErrBadSpecialUse, su)
}

// mailboxEvent is published for folder changes.
func mailboxEvent(addr, name string) Event {
	return Event{Kind: EventMailbox, Address: addr, Mailbox: name}
}

// GetMailbox returns one mailbox's record.
func (s *Store) GetMailbox(address, name string) (*Mailbox, error) {
	addr, name, err := normAddrBox(address, name)
	if err != nil {
		return nil, err
	}
	var mb *Mailbox
	err = s.db.View(func(tx kv.Tx) error {
		mb, _, err = getMailboxTx(tx, addr, name)
		return err
	})
	return mb, err
}

func normAddrBox(address, name string) (string, string, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return "", "", err
	}
	name, err = CanonicalMailboxName(name)
	return addr, name, err
}

// CreateMailbox creates a folder and any missing parent folders.
// specialUse is "" or one of the RFC 6154 attributes.
func (s *Store) CreateMailbox(address, name, specialUse string) (*Mailbox, error) {
	addr, name, err := normAddrBox(address, name)
	if err != nil {
		return nil, err
	}
	if specialUse, err = canonicalSpecialUse(specialUse); err != nil {
		return nil, err
	}
	var mb *Mailbox
	var created []string
	err = s.db.Update(func(tx kv.Tx) error {
		created = nil
		ub, err := userMailboxes(tx, addr, true)
		if err != nil {
			return err
		}
		if ub.Get([]byte(name)) != nil {
			return fmt.Errorf("mailbox %s %w", name, ErrExists)
		}
		if err := CheckNewMailboxName(name, mailboxNamesTx(ub)); err != nil {
			return err
		}
		if ub.KeyN() >= MaxMailboxes {
			return fmt.Errorf("%w (at most %d)", ErrTooManyMailboxes, MaxMailboxes)
		}
		parts := strings.Split(name, string(MailboxDelim))
		for i := 1; i < len(parts); i++ {
			parent := strings.Join(parts[:i], string(MailboxDelim))
			if ub.Get([]byte(parent)) == nil {
				if _, err := createMailboxTx(tx, addr, parent, ""); err != nil {
					return err
				}
				created = append(created, parent)
			}
		}
		mb, err = createMailboxTx(tx, addr, name, specialUse)
		created = append(created, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating mailbox: %w", err)
	}
	for _, n := range created {
		s.Events.Publish(mailboxEvent(addr, n))
	}
	return mb, nil
}

// mailboxNamesTx lists a user's folder names.
func mailboxNamesTx(ub kv.Bucket) []string {
	var out []string
	ub.ForEach(func(k, _ []byte) error { out = append(out, string(k)); return nil })
	return out
}

func hasChildrenTx(ub kv.Bucket, name string) bool {
	prefix := []byte(name + string(MailboxDelim))
	k, _ := ub.Cursor().Seek(prefix)
	return k != nil && strings.HasPrefix(string(k), string(prefix))
}

// DeleteMailbox deletes a folder and its messages. INBOX and folders with
// subfolders are refused.
func (s *Store) DeleteMailbox(address, name string) error {
	addr, name, err := normAddrBox(address, name)
	if err != nil {
		return err
	}
	if name == "INBOX" {
		return ErrInboxProtected
	}
	err = s.db.Update(func(tx kv.Tx) error {
		ub, err := userMailboxes(tx, addr, false)
		if err != nil {
			return err
		}
		if hasChildrenTx(ub, name) {
			return ErrMailboxHasChildren
		}
		return deleteMailboxTx(tx, addr, name)
	})
	if err != nil {
		return fmt.Errorf("deleting mailbox: %w", err)
	}
	s.Events.Publish(mailboxEvent(addr, name))
	return nil
}

// RenameMailbox renames a folder and its subfolders. UIDVALIDITY and UIDs
// stay as they are. Missing parents of the new name are created.
func (s *Store) RenameMailbox(address, oldName, newName string) error {
	addr, oldName, err := normAddrBox(address, oldName)
	if err != nil {
		return err
	}
	if newName, err = CanonicalMailboxName(newName); err != nil {
		return err
	}
	if newName == "INBOX" {
		return ErrInboxProtected
	}
	if oldName == "INBOX" {
		return s.renameInbox(addr, newName)
	}
	if newName == oldName || strings.HasPrefix(newName, oldName+string(MailboxDelim)) {
		return fmt.Errorf("renaming mailbox: %w: cannot move %s into itself", ErrBadMailboxName, oldName)
	}
	var evs []Event
	err = s.db.Update(func(tx kv.Tx) error {
		evs = nil
		ub, err := userMailboxes(tx, addr, false)
		if err != nil {
			return err
		}
		if ub.Get([]byte(oldName)) == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchMailbox, oldName)
		}
		if ub.Get([]byte(newName)) != nil {
			return fmt.Errorf("mailbox %s %w", newName, ErrExists)
		}
		if err := CheckNewMailboxName(newName, mailboxNamesTx(ub)); err != nil {
			return err
		}
		// The folder and its subfolders, collected before changing keys.
		type kv struct {
			name string
			mb   Mailbox
		}
		var moves []kv
		c := ub.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			n := string(k)
			if n == oldName || strings.HasPrefix(n, oldName+string(MailboxDelim)) {
				var mb Mailbox
				if err := json.Unmarshal(v, &mb); err != nil {
					return err
				}
				moves = append(moves, kv{n, mb})
			}
		}
		for _, m := range moves {
			to := newName + strings.TrimPrefix(m.name, oldName)
			if len(to) > MaxMailboxName || strings.Count(to, string(MailboxDelim)) >= MaxMailboxDepth {
				return fmt.Errorf("%w: %s would be too long or too deep", ErrBadMailboxName, to)
			}
			if ub.Get([]byte(to)) != nil {
				return fmt.Errorf("mailbox %s %w", to, ErrExists)
			}
			if err := ub.Delete([]byte(m.name)); err != nil {
				return err
			}
			m.mb.Name = to
			if err := putJSON(ub, to, m.mb); err != nil {
				return err
			}
			evs = append(evs, mailboxEvent(addr, m.name), mailboxEvent(addr, to))
		}
		parts := strings.Split(newName, string(MailboxDelim))
		for i := 1; i < len(parts); i++ {
			parent := strings.Join(parts[:i], string(MailboxDelim))
			if ub.Get([]byte(parent)) == nil {
				if _, err := createMailboxTx(tx, addr, parent, ""); err != nil {
					return err
				}
				evs = append(evs, mailboxEvent(addr, parent))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("renaming mailbox: %w", err)
	}
	s.Events.Publish(evs...)
	return nil
}

// renameInbox is RENAME INBOX (RFC 3501 §6.3.5): the messages move to a
// new mailbox, and INBOX stays, empty.
func (s *Store) renameInbox(addr, newName string) error {
	var evs []Event
	err := s.db.Update(func(tx kv.Tx) error {
		evs = nil
		ub, err := userMailboxes(tx, addr, false)
		if err != nil {
			return err
		}
		if ub.Get([]byte(newName)) != nil {
			return fmt.Errorf("mailbox %s %w", newName, ErrExists)
		}
		if err := CheckNewMailboxName(newName, mailboxNamesTx(ub)); err != nil {
			return err
		}
		parts := strings.Split(newName, string(MailboxDelim))
		for i := 1; i <= len(parts); i++ {
			name := strings.Join(parts[:i], string(MailboxDelim))
			if ub.Get([]byte(name)) == nil {
				if _, err := createMailboxTx(tx, addr, name, ""); err != nil {
					return err
				}
				evs = append(evs, mailboxEvent(addr, name))
			}
		}
		inbox, _, err := getMailboxTx(tx, addr, "INBOX")
		if err != nil {
			return err
		}
		var msgs []*Message
		if err := tx.Bucket(bucketMessages).Bucket(u64(inbox.ID)).ForEach(func(k, v []byte) error {
			m, err := decodeMessage(v)
			msgs = append(msgs, m)
			return err
		}); err != nil {
			return err
		}
		var uids []uint32
		for _, m := range msgs {
			if err := refBody(tx, m.BodyID); err != nil {
				return err
			}
			c, err := appendTx(tx, addr, newName, m.BodyID, m.Size, m.Flags, m.Date, 0)
			if err != nil {
				return err
			}
			uids = append(uids, m.UID)
			evs = append(evs, Event{Kind: EventNew, Address: addr, Mailbox: newName, UID: c.UID, Flags: c.Flags, ModSeq: c.ModSeq})
		}
		ex, err := expungeTx(tx, addr, "INBOX", uids, false)
		evs = append(evs, ex...)
		return err
	})
	if err != nil {
		return fmt.Errorf("renaming INBOX: %w", err)
	}
	s.Events.Publish(evs...)
	return nil
}

// Subscribe marks a folder subscribed (on) or not.
func (s *Store) Subscribe(address, name string, on bool) error {
	addr, name, err := normAddrBox(address, name)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx kv.Tx) error {
		mb, ub, err := getMailboxTx(tx, addr, name)
		if err != nil {
			return err
		}
		mb.Subscribed = on
		return putJSON(ub, name, mb)
	})
	if err != nil {
		return fmt.Errorf("subscribing: %w", err)
	}
	s.Events.Publish(mailboxEvent(addr, name))
	return nil
}

// Usage returns the bytes a user's mail takes and their quota (0: none).
func (s *Store) Usage(address string) (used, quota int64, err error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return 0, 0, err
	}
	err = s.db.View(func(tx kv.Tx) error {
		if tx.Bucket(bucketUsers).Get([]byte(addr)) == nil {
			return fmt.Errorf("user %s %w", addr, ErrNotFound)
		}
		used, quota = usageTx(tx, addr), s.quotaTx(tx, addr)
		return nil
	})
	return used, quota, err
}

// SetQuota sets a user's own quota in bytes (0: the server default).
func (s *Store) SetQuota(address string, bytes int64) error {
	if bytes < 0 {
		return errors.New("quota must not be negative")
	}
	return s.UpdateUser(address, func(u *User) error { u.Quota = bytes; return nil })
}

// GetMessage returns one message's record and a copy of its body.
func (s *Store) GetMessage(address, mailbox string, uid uint32) (*Message, []byte, error) {
	addr, mailbox, err := normAddrBox(address, mailbox)
	if err != nil {
		return nil, nil, err
	}
	var m *Message
	var body []byte
	err = s.db.View(func(tx kv.Tx) error {
		mb, _, err := getMailboxTx(tx, addr, mailbox)
		if err != nil {
			return err
		}
		v := tx.Bucket(bucketMessages).Bucket(u64(mb.ID)).Get(u32(uid))
		if v == nil {
			return fmt.Errorf("message %d in %s %w", uid, mailbox, ErrNotFound)
		}
		if m, err = decodeMessage(v); err != nil {
			return err
		}
		body, _, err = s.bodies.read(tx, m.BodyID, nil)
		if err != nil {
			return fmt.Errorf("body of message %d: %w", uid, err)
		}
		return nil
	})
	return m, body, err
}

// sortedUIDs returns uids sorted without duplicates.
func sortedUIDs(uids []uint32) []uint32 {
	out := append([]uint32(nil), uids...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	n := 0
	for i, u := range out {
		if i == 0 || u != out[n-1] {
			out[n] = u
			n++
		}
	}
	return out[:n]
}

// EnsureDefaultMailboxes creates any of DefaultMailboxes a user lacks
// (the IMAP login calls it, so users created before a default was added
// get it too).
func (s *Store) EnsureDefaultMailboxes(address string) error {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return err
	}
	missing := false
	s.db.View(func(tx kv.Tx) error {
		ub := tx.Bucket(bucketMailboxes).Bucket([]byte(addr))
		for _, d := range DefaultMailboxes {
			if ub == nil || ub.Get([]byte(d.Name)) == nil {
				missing = true
			}
		}
		return nil
	})
	if !missing {
		return nil
	}
	return s.db.Update(func(tx kv.Tx) error { return ensureDefaultMailboxes(tx, addr) })
}
