package imap

import (
	"net"
	"sort"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/authsmtp/authsmtp/store"
)

// selected is a session's view of its selected mailbox: the messages it
// has announced, in sequence-number order. It changes only when the
// session tells the client (EXISTS, EXPUNGE), so sequence numbers stay
// consistent while other sessions expunge.
type selected struct {
	name        string
	id          uint64
	uidValidity uint32
	readOnly    bool
	uids        []uint32
	modseqs     []uint64
	// pending are UIDs expunged elsewhere but not yet announced (an
	// EXPUNGE may not be sent during FETCH, STORE or SEARCH).
	pending []uint32
	// searchRes is the result saved by SEARCH RETURN (SAVE), referenced
	// as "$" (RFC 5182, part of IMAP4rev2).
	searchRes []uint32
}

func (sel *selected) index(uid uint32) int {
	i := sort.Search(len(sel.uids), func(i int) bool { return sel.uids[i] >= uid })
	if i < len(sel.uids) && sel.uids[i] == uid {
		return i
	}
	return -1
}

func (sel *selected) lastUID() uint32 {
	if len(sel.uids) == 0 {
		return 0
	}
	return sel.uids[len(sel.uids)-1]
}

func (sel *selected) remove(i int) {
	sel.uids = append(sel.uids[:i], sel.uids[i+1:]...)
	sel.modseqs = append(sel.modseqs[:i], sel.modseqs[i+1:]...)
}

func (sel *selected) add(states []store.MsgState) {
	for _, m := range states {
		if m.UID > sel.lastUID() {
			sel.uids = append(sel.uids, m.UID)
			sel.modseqs = append(sel.modseqs, m.ModSeq)
		}
	}
}

var mailboxFlags = []goimap.Flag{goimap.FlagSeen, goimap.FlagAnswered, goimap.FlagFlagged, goimap.FlagDeleted, goimap.FlagDraft}

func (s *session) Select(name string, options *goimap.SelectOptions) (*goimap.SelectData, error) {
	// Events queued so far describe states the snapshot below already
	// shows (or later ones, which apply idempotently).
	s.drain()
	s.watch.Lost()
	mb, states, err := s.st.MailboxState(s.user, name)
	if err != nil {
		return nil, s.fail("SELECT", err, false)
	}
	sel := &selected{name: mb.Name, id: mb.ID, uidValidity: mb.UIDValidity, readOnly: options.ReadOnly,
		uids: make([]uint32, 0, len(states)), modseqs: make([]uint64, 0, len(states))}
	sel.add(states)
	s.sel = sel
	d := &goimap.SelectData{
		Flags:          mailboxFlags,
		PermanentFlags: append(append([]goimap.Flag{}, mailboxFlags...), goimap.FlagWildcard),
		NumMessages:    uint32(len(sel.uids)),
		UIDNext:        goimap.UID(mb.UIDNext),
		UIDValidity:    mb.UIDValidity,
	}
	if options.ReadOnly {
		d.PermanentFlags = nil
	}
	for i, m := range states {
		if !m.Seen {
			d.FirstUnseenSeqNum = uint32(i + 1)
			break
		}
	}
	return d, nil
}

func (s *session) Unselect() error {
	s.sel = nil
	return nil
}

// drain returns the events queued for this session without waiting.
func (s *session) drain() []store.Event {
	if s.watch == nil {
		return nil
	}
	var evs []store.Event
	for {
		select {
		case e, ok := <-s.watch.C:
			if !ok {
				return evs
			}
			evs = append(evs, e)
		default:
			return evs
		}
	}
}

// Poll reports changes made elsewhere, before a command's tagged answer.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	return s.apply(w, s.drain(), allowExpunge)
}

// Idle reports changes as they are committed, until stop is closed.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.watch == nil {
		<-stop
		return nil
	}
	if err := s.apply(w, s.drain(), true); err != nil {
		return err
	}
	// A revocation during IDLE ends the session at once (BYE), not at the
	// next command.
	revoked := s.st.RevocationSignal()
	for {
		if s.hc.Revoked() {
			s.log.Warn("imap session ended during IDLE: login revoked")
			s.hc.Revoke()
			return net.ErrClosed
		}
		select {
		case <-revoked:
			revoked = s.st.RevocationSignal()
		case <-stop:
			return nil
		case e, ok := <-s.watch.C:
			if !ok {
				<-stop
				return nil
			}
			if err := s.apply(w, append([]store.Event{e}, s.drain()...), true); err != nil {
				return err
			}
		}
	}
}

// apply turns events into untagged answers for the selected mailbox.
func (s *session) apply(w *imapserver.UpdateWriter, evs []store.Event, allowExpunge bool) error {
	sel := s.sel
	if sel == nil {
		return nil
	}
	if s.watch.Lost() {
		return s.resync(w, allowExpunge)
	}
	newMail, checkMailbox := false, false
	for _, e := range evs {
		if e.Kind == store.EventMailbox {
			checkMailbox = checkMailbox || e.Mailbox == sel.name
			continue
		}
		if e.Mailbox != sel.name {
			continue
		}
		switch e.Kind {
		case store.EventNew:
			newMail = newMail || e.UID > sel.lastUID()
		case store.EventFlags:
			if i := sel.index(e.UID); i >= 0 && e.ModSeq > sel.modseqs[i] {
				sel.modseqs[i] = e.ModSeq
				if err := w.WriteMessageFlags(uint32(i+1), goimap.UID(e.UID), toFlags(e.Flags)); err != nil {
					return err
				}
			}
		case store.EventExpunge:
			if sel.index(e.UID) >= 0 && !containsUID(sel.pending, e.UID) {
				sel.pending = append(sel.pending, e.UID)
			}
		}
	}
	if checkMailbox {
		if err := s.checkSelected(); err != nil {
			return err
		}
	}
	if allowExpunge && len(sel.pending) > 0 {
		for _, uid := range sel.pending {
			if i := sel.index(uid); i >= 0 {
				sel.remove(i)
				if err := w.WriteExpunge(uint32(i + 1)); err != nil {
					return err
				}
			}
		}
		sel.pending = nil
	}
	if newMail {
		_, states, err := s.st.MessagesAfter(s.user, sel.name, sel.lastUID())
		if err != nil {
			return s.fail("reading new messages", err, false)
		}
		before := len(sel.uids)
		sel.add(states)
		if len(sel.uids) != before {
			return w.WriteNumMessages(uint32(len(sel.uids)))
		}
	}
	return nil
}

// checkSelected follows a rename of the selected mailbox by another
// session, and ends the session if it was deleted.
func (s *session) checkSelected() error {
	sel := s.sel
	if mb, err := s.st.GetMailbox(s.user, sel.name); err == nil && mb.ID == sel.id {
		return nil
	}
	mbs, err := s.st.ListMailboxes(s.user)
	if err != nil {
		return s.fail("listing mailboxes", err, false)
	}
	for _, mb := range mbs {
		if mb.ID == sel.id {
			sel.name = mb.Name
			return nil
		}
	}
	s.conn.Bye("the selected mailbox was deleted")
	return &goimap.Error{Type: goimap.StatusResponseTypeBye, Text: "the selected mailbox was deleted"}
}

// resync compares the view with the store after events were lost.
func (s *session) resync(w *imapserver.UpdateWriter, allowExpunge bool) error {
	sel := s.sel
	if err := s.checkSelected(); err != nil {
		return err
	}
	_, states, err := s.st.MailboxState(s.user, sel.name)
	if err != nil {
		return s.fail("reloading mailbox", err, false)
	}
	var changed []uint32
	j := 0
	for _, uid := range sel.uids {
		for j < len(states) && states[j].UID < uid {
			j++
		}
		if j < len(states) && states[j].UID == uid {
			if i := sel.index(uid); states[j].ModSeq > sel.modseqs[i] {
				sel.modseqs[i] = states[j].ModSeq
				changed = append(changed, uid)
			}
		} else if !containsUID(sel.pending, uid) {
			sel.pending = append(sel.pending, uid)
		}
	}
	if len(changed) > 0 {
		err := s.st.FetchMessages(s.user, sel.name, changed, false, func(it *store.FetchItem) error {
			i := sel.index(it.Message.UID)
			if i < 0 {
				return nil
			}
			return w.WriteMessageFlags(uint32(i+1), goimap.UID(it.Message.UID), toFlags(it.Message.Flags))
		})
		if err != nil {
			return s.fail("reloading flags", err, false)
		}
	}
	// Expunges and new messages follow the usual path.
	return s.apply(w, []store.Event{{Kind: store.EventNew, Mailbox: sel.name, UID: ^uint32(0)}}, allowExpunge)
}

func containsUID(l []uint32, uid uint32) bool {
	for _, u := range l {
		if u == uid {
			return true
		}
	}
	return false
}

func toFlags(l []string) []goimap.Flag {
	out := make([]goimap.Flag, len(l))
	for i, f := range l {
		out[i] = goimap.Flag(f)
	}
	return out
}

// resolve maps a sequence or UID set to indexes into the view, ascending.
func (sel *selected) resolve(numSet goimap.NumSet) []int {
	n := len(sel.uids)
	if n == 0 {
		return nil
	}
	if goimap.IsSearchRes(numSet) {
		var out []int
		for _, uid := range sel.searchRes {
			if i := sel.index(uid); i >= 0 {
				out = append(out, i)
			}
		}
		return out
	}
	// Index ranges, merged: the cost follows the set and the answer, not
	// the mailbox (a one-message FETCH of a large mailbox stays cheap).
	type span struct{ lo, hi int } // inclusive
	var spans []span
	switch set := numSet.(type) {
	case goimap.SeqSet:
		for _, r := range set {
			start, stop := int(r.Start), int(r.Stop)
			if start == 0 {
				start = n
			}
			if stop == 0 {
				stop = n
			}
			if start > stop {
				start, stop = stop, start
			}
			if lo, hi := max(start, 1)-1, min(stop, n)-1; lo <= hi {
				spans = append(spans, span{lo, hi})
			}
		}
	case goimap.UIDSet:
		last := sel.lastUID()
		for _, r := range set {
			start, stop := uint32(r.Start), uint32(r.Stop)
			if start == 0 {
				start = last
			}
			if stop == 0 {
				stop = last
			}
			if start > stop {
				start, stop = stop, start
			}
			lo := sort.Search(n, func(i int) bool { return sel.uids[i] >= start })
			hi := sort.Search(n, func(i int) bool { return sel.uids[i] > stop }) - 1
			if lo <= hi {
				spans = append(spans, span{lo, hi})
			}
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	var out []int
	next := 0 // first index not yet in out
	for _, sp := range spans {
		for i := max(sp.lo, next); i <= sp.hi; i++ {
			out = append(out, i)
		}
		next = max(next, sp.hi+1)
	}
	return out
}

func (sel *selected) uidsOf(idx []int) []uint32 {
	out := make([]uint32, len(idx))
	for i, x := range idx {
		out[i] = sel.uids[x]
	}
	return out
}
