package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

func msg(subject string) []byte {
	return []byte("From: x@far.example\r\nSubject: " + subject + "\r\n\r\nbody of " + subject + "\r\n")
}

// appendN appends n messages to mailbox and returns their UIDs.
func appendN(t *testing.T, b Backend, mailbox string, n int) []uint32 {
	t.Helper()
	var uids []uint32
	for i := 0; i < n; i++ {
		m, err := b.Append(user, mailbox, msg(fmt.Sprintf("m%d", i)), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, m.UID)
	}
	return uids
}

func testUIDValidity(t *testing.T, b Backend) {
	withUser(t, b)
	mb, err := b.CreateMailbox(user, "Old", "")
	if err != nil {
		t.Fatal(err)
	}
	old := appendN(t, b, "Old", 2)
	if err := b.DeleteMailbox(user, "Old"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetMailbox(user, "Old"); err == nil {
		t.Error("a deleted mailbox is still there")
	}
	mb2, err := b.CreateMailbox(user, "Old", "")
	if err != nil {
		t.Fatal(err)
	}
	fresh := appendN(t, b, "Old", 1)
	// RFC 3501 §2.3.1.1: a UID may not be reused under the same
	// UIDVALIDITY, so a re-created mailbox needs a new UIDVALIDITY (or
	// UIDs above the old ones).
	if mb2.UIDValidity == mb.UIDValidity && fresh[0] <= old[len(old)-1] {
		t.Errorf("re-created mailbox: UIDVALIDITY %d again and UID %d reused", mb2.UIDValidity, fresh[0])
	}
	if err := b.DeleteMailbox(user, "INBOX"); err == nil {
		t.Error("INBOX was deleted")
	}
	if _, err := b.CreateMailbox(user, "Parent/Child", ""); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteMailbox(user, "Parent"); err == nil {
		t.Error("a mailbox with children was deleted")
	}
}

// testConcurrentUIDs appends from several writers at once, through Append
// and Accept: every message gets its own UID, each writer sees its UIDs
// increase, and the mailbox ends with UIDNext above every UID.
func testConcurrentUIDs(t *testing.T, b Backend) {
	withUser(t, b)
	r, err := b.Route(user)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 6, 8
	var wg sync.WaitGroup
	uids := make([][]uint32, writers)
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				body := msg(fmt.Sprintf("w%d-%d", w, i))
				var uid uint32
				if w%2 == 0 {
					m, err := b.Append(user, "INBOX", body, nil, time.Now())
					if err != nil {
						errs <- err
						return
					}
					uid = m.UID
				} else {
					a, err := b.Accept(&store.Incoming{From: "x@far.example", Local: r.Local, Body: body})
					if err != nil {
						errs <- err
						return
					}
					uid = a.Local[0].UID
				}
				uids[w] = append(uids[w], uid)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	var max uint32
	for w, list := range uids {
		for i, u := range list {
			if seen[u] {
				t.Errorf("UID %d given twice", u)
			}
			seen[u] = true
			if i > 0 && u <= list[i-1] {
				t.Errorf("writer %d: UID %d after %d", w, u, list[i-1])
			}
			max = maxU(max, u)
		}
	}
	mb, states, err := b.MailboxState(user, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != writers*each || mb.Messages != writers*each || mb.UIDNext <= max {
		t.Errorf("after %d concurrent appends: %d messages, %+v (max UID %d)", writers*each, len(states), mb, max)
	}
	for i := 1; i < len(states); i++ {
		if states[i].UID <= states[i-1].UID {
			t.Fatalf("MailboxState not in UID order: %d after %d", states[i].UID, states[i-1].UID)
		}
	}
}

func maxU(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

func testFlagsModSeq(t *testing.T, b Backend) {
	withUser(t, b)
	uids := appendN(t, b, "INBOX", 3)
	mb, _ := b.GetMailbox(user, "INBOX")
	ms, err := b.SetFlags(user, "INBOX", uids[:2], store.FlagsAdd, []string{`\Flagged`, "$Work"})
	if err != nil || len(ms) != 2 {
		t.Fatalf("SetFlags add: %+v, %v", ms, err)
	}
	last := mb.HighestModSeq
	for _, m := range ms {
		if !m.HasFlag(`\flagged`) || !m.HasFlag("$work") || m.ModSeq <= last {
			t.Errorf("after +FLAGS: %+v (modseq was %d)", m, last)
		}
	}
	ms, err = b.SetFlags(user, "INBOX", uids[:1], store.FlagsRemove, []string{"$Work"})
	if err != nil || len(ms) != 1 || ms[0].HasFlag("$Work") || !ms[0].HasFlag(`\Flagged`) {
		t.Errorf("-FLAGS: %+v, %v", ms, err)
	}
	m1 := ms[0].ModSeq
	ms, err = b.SetFlags(user, "INBOX", uids[:1], store.FlagsReplace, []string{`\Seen`})
	if err != nil || len(ms) != 1 || !slices.Equal(ms[0].Flags, []string{`\Seen`}) || ms[0].ModSeq <= m1 {
		t.Errorf("FLAGS replace: %+v, %v", ms, err)
	}
	mb2, err := b.GetMailbox(user, "INBOX")
	if err != nil || mb2.HighestModSeq < ms[0].ModSeq || mb2.Unseen != 2 {
		t.Errorf("mailbox after flag changes: %+v, %v (modseq %d)", mb2, err, ms[0].ModSeq)
	}
	_, after, err := b.MessagesAfter(user, "INBOX", uids[0])
	if err != nil || len(after) != 2 || after[0].UID != uids[1] {
		t.Errorf("MessagesAfter(%d): %+v, %v", uids[0], after, err)
	}
	list, err := b.ListMessages(user, "INBOX")
	if err != nil || len(list) != 3 || !list[0].HasFlag(`\Seen`) || list[2].HasFlag(`\Flagged`) {
		t.Errorf("ListMessages: %+v, %v", list, err)
	}
}

func testExpunge(t *testing.T, b Backend) {
	withUser(t, b)
	uids := appendN(t, b, "INBOX", 4)
	if _, err := b.SetFlags(user, "INBOX", []uint32{uids[0], uids[2]}, store.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	got, err := b.ExpungeDeleted(user, "INBOX", []uint32{uids[2], uids[3]})
	if err != nil || !slices.Equal(got, []uint32{uids[2]}) {
		t.Errorf("UID EXPUNGE of a set: %v, %v", got, err)
	}
	got, err = b.ExpungeDeleted(user, "INBOX", nil)
	if err != nil || !slices.Equal(got, []uint32{uids[0]}) {
		t.Errorf("EXPUNGE: %v, %v", got, err)
	}
	got, err = b.Expunge(user, "INBOX", []uint32{uids[1]})
	if err != nil || !slices.Equal(got, []uint32{uids[1]}) {
		t.Errorf("Expunge of a UID: %v, %v", got, err)
	}
	mb, states, err := b.MailboxState(user, "INBOX")
	if err != nil || len(states) != 1 || states[0].UID != uids[3] || mb.Messages != 1 {
		t.Errorf("after expunges: %+v %+v %v", mb, states, err)
	}
	if _, _, err := b.GetMessage(user, "INBOX", uids[0]); err == nil {
		t.Error("an expunged message is still there")
	}
	next := appendN(t, b, "INBOX", 1)
	if next[0] <= uids[3] {
		t.Errorf("UID %d after expunges: UIDs are never reused (last was %d)", next[0], uids[3])
	}
	used, _, err := b.Usage(user)
	if err != nil || used != mb.Size+int64(len(msg("m0"))) {
		t.Errorf("Usage after expunge: %d, %v (mailbox %d)", used, err, mb.Size)
	}
}

func testCopyMove(t *testing.T, b Backend) {
	withUser(t, b)
	uids := appendN(t, b, "INBOX", 3)
	if _, err := b.SetFlags(user, "INBOX", uids[:1], store.FlagsAdd, []string{`\Seen`}); err != nil {
		t.Fatal(err)
	}
	arch, err := b.GetMailbox(user, "Archive")
	if err != nil {
		t.Fatalf("default mailbox Archive: %v", err)
	}
	cr, err := b.Copy(user, "INBOX", uids[:2], "Archive")
	if err != nil || cr.UIDValidity != arch.UIDValidity || !slices.Equal(cr.SourceUIDs, uids[:2]) || len(cr.DestUIDs) != 2 {
		t.Fatalf("Copy: %+v, %v", cr, err)
	}
	m, body, err := b.GetMessage(user, "Archive", cr.DestUIDs[0])
	if err != nil || !m.HasFlag(`\Seen`) || !bytes.Equal(body, msg("m0")) {
		t.Errorf("copied message: %+v %q %v", m, body, err)
	}
	mr, err := b.Move(user, "INBOX", uids[2:], "Archive")
	if err != nil || len(mr.DestUIDs) != 1 || mr.DestUIDs[0] <= cr.DestUIDs[1] {
		t.Fatalf("Move: %+v, %v", mr, err)
	}
	if in, _ := b.GetMailbox(user, "INBOX"); in.Messages != 2 {
		t.Errorf("INBOX after a move: %d messages", in.Messages)
	}
	if a, _ := b.GetMailbox(user, "Archive"); a.Messages != 3 {
		t.Errorf("Archive after copy and move: %d messages", a.Messages)
	}
	before, _ := b.GetMailbox(user, "Archive")
	if err := b.RenameMailbox(user, "Archive", "Archive 2026"); err != nil {
		t.Fatal(err)
	}
	after, err := b.GetMailbox(user, "Archive 2026")
	if err != nil || after.Messages != 3 {
		t.Fatalf("renamed mailbox: %+v, %v", after, err)
	}
	if after.UIDValidity == before.UIDValidity && after.UIDNext < before.UIDNext {
		t.Errorf("rename kept UIDVALIDITY %d but lowered UIDNEXT %d -> %d", after.UIDValidity, before.UIDNext, after.UIDNext)
	}
	if _, err := b.GetMailbox(user, "Archive"); err == nil {
		t.Error("the old name is still there after a rename")
	}
	if err := b.Subscribe(user, "Archive 2026", false); err != nil {
		t.Fatal(err)
	}
	if mb, _ := b.GetMailbox(user, "Archive 2026"); mb.Subscribed {
		t.Error("unsubscribe did not stick")
	}
}

func testBodies(t *testing.T, b Backend) {
	withUser(t, b)
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16)
	body := append(msg("big"), big...)
	m1, err := b.Append(user, "INBOX", body, []string{`\Seen`}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if m1.Size != int64(len(body)) || !m1.Date.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("Append: size %d (want %d), date %v", m1.Size, len(body), m1.Date)
	}
	m2, err := b.AppendMeta(user, "INBOX", msg("meta"), nil, time.Now(), []byte("parsed"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Body(m1.BodyID); err != nil || !bytes.Equal(got, body) {
		t.Errorf("Body: %d bytes, %v", len(got), err)
	}
	if _, got, err := b.GetMessage(user, "INBOX", m2.UID); err != nil || !bytes.Equal(got, msg("meta")) {
		t.Errorf("GetMessage: %q, %v", got, err)
	}
	if err := b.SetBodyMeta(map[uint64][]byte{m1.BodyID: []byte("later")}); err != nil {
		t.Fatal(err)
	}
	var items []store.FetchItem
	err = b.FetchMessages(user, "INBOX", []uint32{m1.UID, m2.UID, m2.UID + 100}, true, func(it *store.FetchItem) error {
		items = append(items, store.FetchItem{Message: it.Message, Meta: slices.Clone(it.Meta), Body: slices.Clone(it.Body)})
		return nil
	})
	if err != nil || len(items) != 2 {
		t.Fatalf("FetchMessages: %d items, %v", len(items), err)
	}
	if items[0].Message.UID != m1.UID || !bytes.Equal(items[0].Body, body) || string(items[0].Meta) != "later" {
		t.Errorf("first fetched: uid %d, %d body bytes, meta %q", items[0].Message.UID, len(items[0].Body), items[0].Meta)
	}
	if !bytes.Equal(items[1].Body, msg("meta")) || string(items[1].Meta) != "parsed" {
		t.Errorf("second fetched: %q, meta %q", items[1].Body, items[1].Meta)
	}
	err = b.FetchMessages(user, "INBOX", []uint32{m1.UID}, false, func(it *store.FetchItem) error {
		if it.Body != nil {
			t.Error("FetchMessages without bodies gave a body")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	found, err := b.SearchMessages(user, "INBOX", nil, true, func(it *store.SearchItem) bool {
		return bytes.Contains(it.Body, []byte("body of meta"))
	})
	if err != nil || !slices.Equal(found, []uint32{m2.UID}) {
		t.Errorf("SearchMessages over bodies: %v, %v", found, err)
	}
	found, err = b.SearchMessages(user, "INBOX", nil, false, func(it *store.SearchItem) bool {
		return slices.Contains(it.Flags(), `\Seen`)
	})
	if err != nil || !slices.Equal(found, []uint32{m1.UID}) {
		t.Errorf("SearchMessages over flags: %v, %v", found, err)
	}
	// A body shared by copies lives until the last copy goes.
	cr, err := b.Copy(user, "INBOX", []uint32{m1.UID}, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Expunge(user, "INBOX", []uint32{m1.UID}); err != nil {
		t.Fatal(err)
	}
	if _, got, err := b.GetMessage(user, "Archive", cr.DestUIDs[0]); err != nil || !bytes.Equal(got, body) {
		t.Errorf("the copy lost its body when the original went: %d bytes, %v", len(got), err)
	}
}

func testEvents(t *testing.T, b Backend) {
	withUser(t, b)
	ch, cancel := b.Events.Subscribe(user)
	defer cancel()
	m, err := b.Append(user, "INBOX", msg("ev"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := func(kind store.EventKind, what string) store.Event {
		t.Helper()
		select {
		case ev := <-ch:
			if ev.Kind != kind || ev.Address != user {
				t.Errorf("%s: event %+v", what, ev)
			}
			return ev
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no event", what)
		}
		return store.Event{}
	}
	if ev := want(store.EventNew, "Append"); ev.UID != m.UID || ev.Mailbox != "INBOX" {
		t.Errorf("new-mail event: %+v", ev)
	}
	if _, err := b.SetFlags(user, "INBOX", []uint32{m.UID}, store.FlagsAdd, []string{`\Seen`}); err != nil {
		t.Fatal(err)
	}
	if ev := want(store.EventFlags, "SetFlags"); ev.UID != m.UID || !slices.Contains(ev.Flags, `\Seen`) {
		t.Errorf("flags event: %+v", ev)
	}
	if _, err := b.Expunge(user, "INBOX", []uint32{m.UID}); err != nil {
		t.Fatal(err)
	}
	if ev := want(store.EventExpunge, "Expunge"); ev.UID != m.UID {
		t.Errorf("expunge event: %+v", ev)
	}
}
