package imap

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/store"
)

// updates collects a client's unsolicited EXISTS, EXPUNGE and FETCH.
type updates struct {
	mu       sync.Mutex
	exists   []uint32
	expunges []uint32
	flags    map[uint32][]goimap.Flag // by sequence number
	uidFlags map[goimap.UID][]goimap.Flag
	ch       chan struct{}
}

func newUpdates() *updates {
	return &updates{flags: map[uint32][]goimap.Flag{}, uidFlags: map[goimap.UID][]goimap.Flag{}, ch: make(chan struct{}, 1000)}
}

func (u *updates) handler() *imapclient.UnilateralDataHandler {
	return &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				u.mu.Lock()
				u.exists = append(u.exists, *d.NumMessages)
				u.mu.Unlock()
				u.ch <- struct{}{}
			}
		},
		Expunge: func(seq uint32) {
			u.mu.Lock()
			u.expunges = append(u.expunges, seq)
			u.mu.Unlock()
			u.ch <- struct{}{}
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			b, _ := m.Collect()
			if b != nil && b.Flags != nil {
				u.mu.Lock()
				u.flags[b.SeqNum] = b.Flags
				if b.UID != 0 {
					u.uidFlags[b.UID] = b.Flags
				}
				u.mu.Unlock()
				u.ch <- struct{}{}
			}
		},
	}
}

func (u *updates) wait(t *testing.T, within time.Duration, what string) {
	t.Helper()
	select {
	case <-u.ch:
	case <-time.After(within):
		t.Fatalf("no %s within %s", what, within)
	}
}

func TestTwoSessionsExpunge(t *testing.T) {
	ts := newTestServer(t)
	for i := 1; i <= 5; i++ {
		if _, err := ts.st.Append(testUser, "INBOX", testMessage(i, "word"), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	ua, ub := newUpdates(), newUpdates()
	a := ts.client(t, ua.handler())
	b := ts.client(t, ub.handler())
	a.Select("INBOX", nil).Wait()
	b.Select("INBOX", nil).Wait()

	// A deletes messages 2 and 4 (UIDs 2, 4) and expunges them.
	a.Store(goimap.SeqSetNum(2, 4), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close()
	// B hears of the \Deleted flags at its next command (go-imap's client
	// hands unsolicited FETCH to the handler asynchronously: wait for it).
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	for {
		ub.mu.Lock()
		deleted := slices.Contains(ub.flags[2], goimap.FlagDeleted) && slices.Contains(ub.flags[4], goimap.FlagDeleted)
		ub.mu.Unlock()
		if deleted {
			break
		}
		ub.wait(t, time.Second, "FETCH FLAGS with \\Deleted for messages 2 and 4")
	}
	if _, err := a.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}

	// B has not been told yet: during FETCH its sequence numbers stay as
	// they were (no EXPUNGE may arrive during FETCH), and message 5 is
	// still UID 5.
	msgs, err := b.Fetch(goimap.SeqSetNum(5), &goimap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 5 {
		t.Fatalf("B FETCH 5 before NOOP: %+v %v", msgs, err)
	}
	ub.mu.Lock()
	early := len(ub.expunges)
	ub.mu.Unlock()
	if early != 0 {
		t.Fatal("EXPUNGE sent during FETCH")
	}
	// NOOP delivers the expunges; sequence numbers then shift.
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	ub.mu.Lock()
	got := append([]uint32(nil), ub.expunges...)
	ub.mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("B got expunges %v", got)
	}
	msgs, err = b.Fetch(goimap.SeqSetNum(1, 2, 3), &goimap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 3 || msgs[0].UID != 1 || msgs[1].UID != 3 || msgs[2].UID != 5 {
		t.Fatalf("B after NOOP: %+v %v", msgs, err)
	}
	if n := b.Mailbox().NumMessages; n != 3 {
		t.Fatalf("B counts %d", n)
	}
}

func TestIdleWakesOnDelivery(t *testing.T) {
	ts := newTestServer(t)
	u := newUpdates()
	c := ts.client(t, u.handler())
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the server has entered IDLE (the + was read), then
	// deliver as the SMTP path does.
	start := time.Now()
	if _, err := ts.st.Accept(&store.Incoming{From: "bob@example.org", Local: []store.LocalRcpt{{Address: testUser}}, Body: testMessage(1, "idle")}); err != nil {
		t.Fatal(err)
	}
	u.wait(t, time.Second, "EXISTS during IDLE")
	if d := time.Since(start); d > time.Second {
		t.Fatalf("IDLE woke after %s", d)
	}
	// A flag change and an expunge by another session arrive too.
	other := ts.client(t, nil)
	other.Select("INBOX", nil).Wait()
	other.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close()
	u.wait(t, time.Second, "FETCH FLAGS during IDLE")
	other.Expunge().Close()
	u.wait(t, time.Second, "EXPUNGE during IDLE")
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !slices.Equal(u.exists, []uint32{1}) || !slices.Equal(u.expunges, []uint32{1}) {
		t.Fatalf("exists %v expunges %v", u.exists, u.expunges)
	}
}

func TestRestartKeepsUIDs(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Domain(t, st, testDomain, testDomPW, true)
	testutil.User(t, st, testUser, testPassword)
	var validity uint32
	func() {
		ts := startServer(t, st)
		c := ts.client(t, nil)
		for i := 1; i <= 3; i++ {
			appendMsg(t, c, "INBOX", testMessage(i, "x"), nil)
		}
		sel, _ := c.Select("INBOX", nil).Wait()
		validity = sel.UIDValidity
		c.Store(goimap.SeqSetNum(3), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close()
		c.Expunge().Close()
		c.Logout().Wait()
		ts.srv.Close()
	}()
	st.Close()

	st2, err := store.Open(dir, store.Options{Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	ts := startServer(t, st2)
	c := ts.client(t, nil)
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.UIDValidity != validity || sel.NumMessages != 2 || sel.UIDNext != 4 {
		t.Fatalf("after restart: %+v %v (validity was %d)", sel, err, validity)
	}
	// The expunged UID 3 is never used again.
	if d := appendMsg(t, c, "INBOX", testMessage(4, "x"), nil); d.UID != 4 || d.UIDValidity != validity {
		t.Fatalf("new message after restart: %+v", d)
	}
}

// TestLostEventsResync: a session that falls behind (its event buffer
// overflows) compares its view with the store instead, and still reports
// every expunge, new message and flag change correctly.
func TestLostEventsResync(t *testing.T) {
	ts := newTestServer(t)
	for i := 1; i <= 5; i++ {
		ts.st.Append(testUser, "INBOX", testMessage(i, "x"), nil, time.Time{})
	}
	u := newUpdates()
	b := ts.client(t, u.handler())
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// Far more changes than a session buffers, while B does nothing.
	for i := 0; i < 400; i++ {
		if _, err := ts.st.SetFlags(testUser, "INBOX", []uint32{3}, store.FlagsReplace, []string{fmt.Sprintf("k%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ts.st.Expunge(testUser, "INBOX", []uint32{2})
	ts.st.Append(testUser, "INBOX", testMessage(6, "x"), nil, time.Time{})
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	u.mu.Lock()
	exp, exists := append([]uint32(nil), u.expunges...), append([]uint32(nil), u.exists...)
	u.mu.Unlock()
	if !slices.Equal(exp, []uint32{2}) || len(exists) == 0 || exists[len(exists)-1] != 5 {
		t.Fatalf("after resync: expunges %v exists %v", exp, exists)
	}
	for {
		u.mu.Lock()
		f := u.uidFlags[3]
		u.mu.Unlock()
		if slices.Contains(f, "k399") {
			break
		}
		u.wait(t, time.Second, "the latest flags of UID 3")
	}
	msgs, err := b.Fetch(goimap.SeqSetNum(1, 2, 3, 4, 5), &goimap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 5 || msgs[1].UID != 3 || msgs[4].UID != 6 {
		t.Fatalf("view after resync: %+v %v", msgs, err)
	}
}
