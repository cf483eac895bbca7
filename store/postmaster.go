package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Every hosted domain has postmaster@ (RFC 5321 §4.5.1: a server must
// accept it, case-insensitively) and abuse@ (RFC 2142). Unless a user or
// an alias of that name exists, mail to them goes to the domain's
// postmaster: a user the admin chooses (Domain.Postmaster, any hosted
// user, since one person often looks after several domains).
//
// While none is chosen the mail is still accepted (the MX must take it):
// it goes to the catch-all if the domain has one, and otherwise is held
// in a mailbox of the reserved address itself, which has no login. No
// user receives it by chance (abuse reports and DMARC reports can be
// sensitive); choosing a postmaster moves the held mail into that user's
// INBOX, and a user later created at postmaster@ or abuse@ finds it there.
// The admin panel warns while a domain has no postmaster.
//
// Bounces (DSNs) for a hosted sender address without a mailbox go to
// that address's alias or catch-all, else to postmaster@ of its domain.

// ReservedLocalParts are the local parts every hosted domain accepts.
var ReservedLocalParts = []string{"postmaster", "abuse"}

// IsReservedLocal reports whether addr is postmaster@ or abuse@ of its
// domain (addr canonical).
func IsReservedLocal(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	for _, l := range ReservedLocalParts {
		if strings.EqualFold(addr[:at], l) {
			return true
		}
	}
	return false
}

// SetPostmaster makes user receive the domain's postmaster@ and abuse@
// mail (and bounces that have no other way back); user "" unsets it. Mail
// held while it was unset moves into the user's INBOX.
func (s *Store) SetPostmaster(domain, user string) error {
	u := ""
	if user != "" {
		var err error
		if u, err = NormalizeAddress(user); err != nil {
			return err
		}
	}
	var evs []Event
	err := s.db.Update(func(tx kv.Tx) error {
		evs = nil
		if u != "" {
			if tx.Bucket(bucketUsers).Get([]byte(u)) == nil {
				return fmt.Errorf("the postmaster %s must be an existing user: %w", u, ErrNoSuchUser)
			}
		}
		dn, err := DomainLogin(domain)
		if err != nil {
			return err
		}
		b := tx.Bucket(bucketDomains)
		var d Domain
		if !getJSON(b, dn, &d) {
			return fmt.Errorf("%w: %s", ErrNoSuchDomain, dn)
		}
		d.Postmaster = u
		if err := putJSON(b, dn, d); err != nil {
			return err
		}
		if u == "" {
			return nil
		}
		for _, l := range ReservedLocalParts {
			held := l + "@" + dn
			if tx.Bucket(bucketUsers).Get([]byte(held)) != nil || held == u {
				continue // a real user's mailbox
			}
			moved, err := moveHeldTx(tx, held, u)
			if err != nil {
				return err
			}
			evs = append(evs, moved...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("setting the postmaster: %w", err)
	}
	s.Events.Publish(evs...)
	return nil
}

// HeldPostmasterMail counts the messages held for a domain without a
// postmaster.
func (s *Store) HeldPostmasterMail(domain string) int {
	dn, err := DomainLogin(domain)
	if err != nil {
		return 0
	}
	n := 0
	s.db.View(func(tx kv.Tx) error {
		for _, l := range ReservedLocalParts {
			held := l + "@" + dn
			if tx.Bucket(bucketUsers).Get([]byte(held)) != nil {
				continue
			}
			if mb, _, err := getMailboxTx(tx, held, "INBOX"); err == nil {
				n += mb.Messages
			}
		}
		return nil
	})
	return n
}

// moveHeldTx moves the messages held at a reserved address into the
// INBOX of user, and removes the held mailbox.
func moveHeldTx(tx kv.Tx, held, user string) ([]Event, error) {
	mb, _, err := getMailboxTx(tx, held, "INBOX")
	if errors.Is(err, ErrNoSuchMailbox) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var msgs []*Message
	if err := tx.Bucket(bucketMessages).Bucket(u64(mb.ID)).ForEach(func(k, v []byte) error {
		m, err := decodeMessage(v)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		return nil
	}); err != nil {
		return nil, err
	}
	var evs []Event
	for _, m := range msgs {
		if err := refBody(tx, m.BodyID); err != nil {
			return nil, err
		}
		// No quota check: this mail was accepted already.
		nm, err := appendTx(tx, user, "INBOX", m.BodyID, m.Size, m.Flags, m.Date, 0)
		if err != nil {
			return nil, fmt.Errorf("moving held mail of %s to %s: %w", held, user, err)
		}
		evs = append(evs, Event{Kind: EventNew, Address: user, Mailbox: "INBOX", UID: nm.UID, Flags: nm.Flags, ModSeq: nm.ModSeq})
	}
	return evs, deleteAllMailboxes(tx, held)
}

// ensureHeldInboxTx gives a reserved address without a user the INBOX
// its mail is held in.
func ensureHeldInboxTx(tx kv.Tx, addr string) error {
	if !IsReservedLocal(addr) || tx.Bucket(bucketUsers).Get([]byte(addr)) != nil {
		return ErrNoSuchMailbox
	}
	_, err := createMailboxTx(tx, addr, "INBOX", "")
	return err
}

// deleteHeldTx removes the mail held for a domain being removed.
func deleteHeldTx(tx kv.Tx, domain string) error {
	for _, l := range ReservedLocalParts {
		held := l + "@" + domain
		if tx.Bucket(bucketUsers).Get([]byte(held)) != nil {
			continue
		}
		if err := deleteAllMailboxes(tx, held); err != nil {
			return err
		}
	}
	return nil
}
