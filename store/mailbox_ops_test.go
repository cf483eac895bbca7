package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

func mbTestStore(t *testing.T) *Store {
	t.Helper()
	st, err := Open(t.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mbTestUser(t *testing.T, st *Store, addr string) {
	t.Helper()
	if _, err := st.AddDomain(DomainOf(addr)); err != nil && !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	if _, err := st.AddUser(addr, "Pw-k9W!q-"+addr); err != nil {
		t.Fatal(err)
	}
}

func mbMsg(i int) []byte {
	return []byte(fmt.Sprintf("From: a@b.test\r\nSubject: test %d\r\n\r\nbody %d\r\n", i, i))
}

func TestMessageRecordRoundTrip(t *testing.T) {
	m := &Message{UID: 7, Flags: []string{`\Seen`, `\Deleted`, "$Label1", "work"}, Date: time.Unix(1700000000, 5).UTC(), Size: 12345, BodyID: 99, ModSeq: 1 << 40}
	got, err := decodeMessage(encodeMessage(m))
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != m.UID || got.Size != m.Size || got.BodyID != m.BodyID || got.ModSeq != m.ModSeq || !got.Date.Equal(m.Date) {
		t.Fatalf("got %+v, want %+v", got, m)
	}
	if !slices.Equal(got.Flags, m.Flags) {
		t.Fatalf("flags %v, want %v", got.Flags, m.Flags)
	}
	// The JSON records of the first schema are still read.
	old, err := decodeMessage([]byte(`{"uid":3,"flags":["\\Seen","x"],"date":"2024-01-02T03:04:05Z","size":10,"body":4,"modseq":9}`))
	if err != nil || old.UID != 3 || !old.HasFlag(`\seen`) || !old.HasFlag("X") || old.ModSeq != 9 {
		t.Fatalf("json record: %+v %v", old, err)
	}
	if _, err := decodeMessage([]byte{1, 2, 3}); err == nil {
		t.Fatal("short record decoded")
	}
}

func TestMailboxNames(t *testing.T) {
	good := map[string]string{"inbox": "INBOX", "Inbox/Sub": "INBOX/Sub", "Work/2024": "Work/2024", "Ünïcode": "Ünïcode"}
	for in, want := range good {
		got, err := CanonicalMailboxName(in)
		if err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	deep := "a"
	for i := 0; i < MaxMailboxDepth; i++ {
		deep += "/a"
	}
	for _, bad := range []string{"", "a/../b", "..", ".", "a*", "a%b", "/a", "a/", "a//b", "a\x00b", "a\r\nb", deep, string(make([]byte, 300)), "\xff"} {
		if _, err := CanonicalMailboxName(bad); !errors.Is(err, ErrBadMailboxName) {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
}

func TestMailboxOperations(t *testing.T) {
	st := mbTestStore(t)
	const u = "ann@ops.test"
	mbTestUser(t, st, u)
	w := st.Events.Watch(u)
	defer w.Close()

	if _, err := st.CreateMailbox(u, "Projects/2024/Q1", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateMailbox(u, "Projects", ""); !errors.Is(err, ErrExists) {
		t.Fatalf("parent was not created: %v", err)
	}
	if _, err := st.CreateMailbox(u, "Bad/../x", ""); !errors.Is(err, ErrBadMailboxName) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := st.CreateMailbox(u, "Odd", `\Nonsense`); !errors.Is(err, ErrBadSpecialUse) {
		t.Fatalf("bad special use: %v", err)
	}
	if err := st.DeleteMailbox(u, "Projects"); !errors.Is(err, ErrMailboxHasChildren) {
		t.Fatalf("delete parent: %v", err)
	}
	if err := st.RenameMailbox(u, "Projects", "inbox"); !errors.Is(err, ErrInboxProtected) {
		t.Fatalf("rename to inbox: %v", err)
	}
	if err := st.DeleteMailbox(u, "inbox"); !errors.Is(err, ErrInboxProtected) {
		t.Fatalf("delete inbox: %v", err)
	}
	q1, _ := st.GetMailbox(u, "Projects/2024/Q1")
	if err := st.RenameMailbox(u, "Projects", "Old/Projects"); err != nil {
		t.Fatal(err)
	}
	moved, err := st.GetMailbox(u, "Old/Projects/2024/Q1")
	if err != nil || moved.UIDValidity != q1.UIDValidity || moved.ID != q1.ID {
		t.Fatalf("renamed child: %+v %v (was %+v)", moved, err, q1)
	}
	if _, err := st.GetMailbox(u, "Projects/2024/Q1"); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatalf("old name still there: %v", err)
	}
	if err := st.RenameMailbox(u, "Old", "Old/Inside"); !errors.Is(err, ErrBadMailboxName) {
		t.Fatalf("rename into itself: %v", err)
	}
	if err := st.Subscribe(u, "Old", false); err != nil {
		t.Fatal(err)
	}
	if mb, _ := st.GetMailbox(u, "Old"); mb.Subscribed {
		t.Fatal("still subscribed")
	}

	// Messages: append, flags, copy, move, expunge.
	var uids []uint32
	for i := 0; i < 5; i++ {
		m, err := st.Append(u, "INBOX", mbMsg(i), nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, m.UID)
	}
	if !slices.Equal(uids, []uint32{1, 2, 3, 4, 5}) {
		t.Fatalf("uids %v", uids)
	}
	got, err := st.SetFlags(u, "INBOX", []uint32{1, 2, 99}, FlagsAdd, []string{`\seen`, "Work"})
	if err != nil || len(got) != 2 || !got[0].HasFlag(`\Seen`) || !got[1].HasFlag("work") {
		t.Fatalf("SetFlags: %+v %v", got, err)
	}
	if mb, _ := st.GetMailbox(u, "INBOX"); mb.Unseen != 3 || mb.Messages != 5 {
		t.Fatalf("counters %+v", mb)
	}
	got, _ = st.SetFlags(u, "INBOX", []uint32{1}, FlagsRemove, []string{"WORK"})
	if got[0].HasFlag("work") || !got[0].HasFlag(`\Seen`) {
		t.Fatalf("remove: %v", got[0].Flags)
	}
	got, _ = st.SetFlags(u, "INBOX", []uint32{2}, FlagsReplace, []string{`\Flagged`})
	if !slices.Equal(got[0].Flags, []string{`\Flagged`}) {
		t.Fatalf("replace: %v", got[0].Flags)
	}
	cr, err := st.Copy(u, "INBOX", []uint32{2, 3}, "Archive")
	if err != nil || !slices.Equal(cr.SourceUIDs, []uint32{2, 3}) || !slices.Equal(cr.DestUIDs, []uint32{1, 2}) {
		t.Fatalf("copy %+v %v", cr, err)
	}
	mr, err := st.Move(u, "INBOX", []uint32{4}, "Trash")
	if err != nil || len(mr.DestUIDs) != 1 {
		t.Fatalf("move %+v %v", mr, err)
	}
	if _, _, err := st.GetMessage(u, "INBOX", 4); !errors.Is(err, ErrNotFound) {
		t.Fatalf("moved message still in INBOX: %v", err)
	}
	m, body, err := st.GetMessage(u, "Trash", mr.DestUIDs[0])
	if err != nil || string(body) != string(mbMsg(3)) || m.Size != int64(len(body)) {
		t.Fatalf("GetMessage: %v %q", err, body)
	}
	st.SetFlags(u, "INBOX", []uint32{1, 5}, FlagsAdd, []string{`\Deleted`})
	ex, err := st.ExpungeDeleted(u, "INBOX", []uint32{5})
	if err != nil || !slices.Equal(ex, []uint32{5}) {
		t.Fatalf("ExpungeDeleted within: %v %v", ex, err)
	}
	ex, err = st.Expunge(u, "INBOX", nil)
	if err != nil || !slices.Equal(ex, []uint32{1}) {
		t.Fatalf("Expunge deleted: %v %v", ex, err)
	}
	ex, _ = st.Expunge(u, "INBOX", []uint32{3})
	if !slices.Equal(ex, []uint32{3}) {
		t.Fatalf("Expunge uids: %v", ex)
	}
	mb, states, err := st.MailboxState(u, "INBOX")
	if err != nil || len(states) != 1 || states[0].UID != 2 || mb.Messages != 1 || mb.UIDNext != 6 {
		t.Fatalf("state %+v %+v %v", mb, states, err)
	}
	// The body shared by INBOX 2 and Archive 1 survives the expunge of one.
	st.Expunge(u, "INBOX", []uint32{2})
	if _, b, err := st.GetMessage(u, "Archive", 1); err != nil || string(b) != string(mbMsg(1)) {
		t.Fatalf("shared body: %v", err)
	}
	// UIDs are never reused.
	m, _ = st.Append(u, "INBOX", mbMsg(9), nil, time.Time{})
	if m.UID != 6 {
		t.Fatalf("new uid %d, want 6", m.UID)
	}
	// RENAME INBOX moves its messages to a new folder; INBOX stays.
	if err := st.RenameMailbox(u, "INBOX", "Old Mail/2024"); err != nil {
		t.Fatal(err)
	}
	if mb, _, _ := st.MailboxState(u, "INBOX"); mb.Messages != 0 || mb.UIDNext != 7 {
		t.Fatalf("INBOX after rename: %+v", mb)
	}
	if _, b, err := st.GetMessage(u, "Old Mail/2024", 1); err != nil || string(b) != string(mbMsg(9)) {
		t.Fatalf("renamed INBOX message: %v", err)
	}
	used, _, err := st.Usage(u)
	if err != nil || used <= 0 {
		t.Fatalf("usage %d %v", used, err)
	}

	// Events arrived, after commit, for the mailbox changes.
	kinds := map[EventKind]int{}
	for len(w.C) > 0 {
		e := <-w.C
		kinds[e.Kind]++
	}
	if kinds[EventNew] < 9 || kinds[EventFlags] < 4 || kinds[EventExpunge] < 5 || kinds[EventMailbox] < 3 {
		t.Fatalf("events %v", kinds)
	}
	if w.Lost() {
		t.Fatal("events lost")
	}
}

func TestQuota(t *testing.T) {
	st := mbTestStore(t)
	const u = "q@ops.test"
	mbTestUser(t, st, u)
	if err := st.SetQuota(u, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(u, "INBOX", make([]byte, 80), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(u, "INBOX", make([]byte, 30), nil, time.Time{}); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("over quota append: %v", err)
	}
	if _, err := st.Copy(u, "INBOX", []uint32{1}, "Archive"); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("over quota copy: %v", err)
	}
	if _, err := st.Move(u, "INBOX", []uint32{1}, "Archive"); err != nil {
		t.Fatalf("move within quota: %v", err)
	}
	if st.QuotaLeft(u, 30) {
		t.Fatal("QuotaLeft says yes")
	}
	used, q, _ := st.Usage(u)
	if used != 80 || q != 100 {
		t.Fatalf("usage %d/%d", used, q)
	}
}

func TestWatcherLoss(t *testing.T) {
	st := mbTestStore(t)
	w := st.Events.Watch("x@y.test")
	defer w.Close()
	for i := 0; i < 1000; i++ {
		st.Events.Publish(Event{Kind: EventNew, Address: "x@y.test", UID: uint32(i)})
	}
	if !w.Lost() || w.Lost() {
		t.Fatal("Lost does not report once")
	}
}
