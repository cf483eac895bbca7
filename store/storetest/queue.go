package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// queueOne accepts a message for one remote recipient and returns its entry.
func queueOne(t *testing.T, b Backend, rcpt string) store.QueueEntry {
	t.Helper()
	a, err := b.Accept(&store.Incoming{From: user, Login: user, Remote: []string{rcpt}, Body: msg("out"), Subject: "out", Service: "submission", CID: "42"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := b.GetQueue(a.QueueID)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func testQueueTimeline(t *testing.T, b Backend) {
	withUser(t, b)
	woke := make(chan struct{}, 4)
	b.OnQueued(func() {
		select {
		case woke <- struct{}{}:
		default:
		}
	})
	a, err := b.Accept(&store.Incoming{From: user, Login: user, Remote: []string{"bob@far.example", "eve@far.example"}, Body: msg("out"), Subject: "out", Service: "submission", CID: "42"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := b.GetQueue(a.QueueID)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-woke:
	case <-time.After(5 * time.Second):
		t.Error("OnQueued was not called after a commit that queued mail")
	}
	if q.Service != "submission" || q.CID != "42" || q.Login != user || q.Subject != "out" || q.NextAttempt.IsZero() {
		t.Errorf("queued entry: %+v", q)
	}
	if body, err := b.Body(q.BodyID); err != nil || !bytes.Equal(body, msg("out")) {
		t.Errorf("queued body: %q, %v", body, err)
	}
	if p := q.Pending(); len(p) != 2 || p[0] != "bob@far.example" {
		t.Errorf("Pending: %v", p)
	}
	due, _, err := b.DueQueue(time.Now().Add(time.Second), 0)
	if err != nil || len(due) != 1 || due[0].ID != q.ID {
		t.Fatalf("DueQueue: %+v, %v", due, err)
	}
	// A failed attempt: the timeline grows, the next attempt moves on.
	next := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	err = b.RecordDelivery(q.ID, func(e *store.QueueEntry) error {
		e.Attempts = append(e.Attempts, store.Attempt{Time: time.Now().UTC(), Host: "mx.far.example", Rcpts: []string{"bob@far.example"}, Reply: "451 4.3.0 try later"})
		e.Rcpts[0].Reply = "451 4.3.0 try later"
		e.NextAttempt = next
		e.Tries++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	due, when, err := b.DueQueue(time.Now(), 0)
	if err != nil || len(due) != 0 || !when.Equal(next) {
		t.Errorf("DueQueue after a deferral: %+v, next %v (want %v), %v", due, when, next, err)
	}
	if n, err := b.RetryQueue(q.ID); err != nil || n != 1 {
		t.Errorf("RetryQueue: %d, %v", n, err)
	}
	if due, _, _ := b.DueQueue(time.Now().Add(time.Second), 0); len(due) != 1 {
		t.Errorf("RetryQueue did not make the entry due: %+v", due)
	}
	// A permanent failure with its bounce in the same transaction.
	res, err := b.RecordDeliveryDSN(q.ID, func(e *store.QueueEntry) (*store.Incoming, error) {
		e.Attempts = append(e.Attempts, store.Attempt{Time: time.Now().UTC(), Reply: "550 5.1.1 no such user"})
		e.Rcpts[0].Status = store.RcptFailed
		e.Rcpts[1].Reply = "451 4.3.0 try later"
		return &store.Incoming{From: "", Local: []store.LocalRcpt{{Address: user}}, Body: msg("bounce"), DSN: true}, nil
	})
	if err != nil || res.DSN == nil || res.DSNErr != nil || len(res.DSN.Local) != 1 {
		t.Fatalf("RecordDeliveryDSN: %+v, %v", res, err)
	}
	got, err := b.GetQueue(q.ID)
	if err != nil || len(got.Attempts) != 2 || got.Attempts[0].Host != "mx.far.example" || got.Tries != 1 ||
		len(got.Pending()) != 1 || got.Pending()[0] != "eve@far.example" {
		t.Errorf("timeline after two attempts: %+v, %v", got, err)
	}
	if in, _ := b.GetMailbox(user, "INBOX"); in.Messages != 1 {
		t.Errorf("the bounce is not in the sender's INBOX: %d messages", in.Messages)
	}
	if err := b.UpdateQueue(q.ID, func(e *store.QueueEntry) error { e.Subject = "edited"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.GetQueue(q.ID); got.Subject != "edited" {
		t.Errorf("UpdateQueue did not stick: %+v", got)
	}
	// Once nothing is pending the entry and its body go.
	if err := b.RecordDelivery(q.ID, func(e *store.QueueEntry) error {
		e.Rcpts[1].Status = store.RcptSent
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetQueue(q.ID); err == nil {
		t.Error("an entry with nothing pending is still queued")
	}
	if _, err := b.Body(q.BodyID); err == nil {
		t.Error("the body of a finished entry is still stored")
	}
	other := queueOne(t, b, "dan@far.example")
	if err := b.DeleteQueue(other.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetQueue(other.ID); err == nil {
		t.Error("a deleted entry is still there")
	}
	if st := b.Stats(); st.Queue != 0 || st.Users != 1 || st.Domains != 1 {
		t.Errorf("Stats: %+v", st)
	}
}

func testCaptured(t *testing.T, b Backend) {
	withUser(t, b)
	for i := 0; i < 2; i++ {
		if _, err := b.Accept(&store.Incoming{From: user, Login: user, Remote: []string{"bob@far.example"}, Body: msg("demo"), Captured: true}); err != nil {
			t.Fatal(err)
		}
	}
	if due, _, _ := b.DueQueue(time.Now().Add(time.Hour), 0); len(due) != 0 {
		t.Errorf("captured mail is due for delivery: %+v", due)
	}
	caps, err := b.ListCaptured(user)
	if err != nil || len(caps) != 2 || !caps[0].Captured {
		t.Fatalf("ListCaptured: %+v, %v", caps, err)
	}
	if none, _ := b.ListCaptured("someone@else.test"); len(none) != 0 {
		t.Errorf("ListCaptured of another login: %+v", none)
	}
	unf, err := b.UnfiledCaptured()
	if err != nil || len(unf) != 2 {
		t.Errorf("UnfiledCaptured: %+v, %v", unf, err)
	}
	if err := b.UpdateQueue(caps[0].ID, func(q *store.QueueEntry) error { q.Filed = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if unf, _ := b.UnfiledCaptured(); len(unf) != 1 {
		t.Errorf("UnfiledCaptured after filing one: %+v", unf)
	}
	if n, err := b.ClearCaptured(user); err != nil || n != 2 {
		t.Errorf("ClearCaptured: %d, %v", n, err)
	}
	if qs, _ := b.ListQueue(); len(qs) != 0 {
		t.Errorf("queue after ClearCaptured: %+v", qs)
	}
}

func testDelivery(t *testing.T, b Backend) {
	withUser(t, b)
	const alias = "fwd@conformance.test"
	if _, err := b.AddAlias(alias, []string{user, "carol@far.example"}, ""); err != nil {
		t.Fatal(err)
	}
	// Abort stores nothing.
	d := b.BeginDelivery(store.Envelope{From: "x@far.example", Inbound: true})
	if _, err := d.AddRecipient(user); err != nil {
		t.Fatal(err)
	}
	d.Abort()
	if in, _ := b.GetMailbox(user, "INBOX"); in.Messages != 0 {
		t.Errorf("an aborted delivery stored %d messages", in.Messages)
	}
	// Errors at AddRecipient.
	d = b.BeginDelivery(store.Envelope{From: "x@far.example", Inbound: true})
	if _, err := d.AddRecipient("nobody@" + domain); !errors.Is(err, store.ErrNoSuchUser) {
		t.Errorf("unknown local recipient: %v, want ErrNoSuchUser", err)
	}
	if err := b.SetQuota(user, 10); err != nil {
		t.Fatal(err)
	}
	big := b.BeginDelivery(store.Envelope{From: "x@far.example", Inbound: true, Size: 1000})
	if _, err := big.AddRecipient(user); !errors.Is(err, store.ErrOverQuota) {
		t.Errorf("a message over quota: %v, want ErrOverQuota", err)
	}
	big.Abort()
	if b.QuotaLeft(user, 1000) {
		t.Error("QuotaLeft with a 10-byte quota")
	}
	if err := b.SetQuota(user, 0); err != nil {
		t.Fatal(err)
	}
	// One commit: the local copy, the forwarded copy, the dedup marker.
	r, err := d.AddRecipient(alias)
	if err != nil || len(r.Route.Local) != 1 || len(r.Route.Remote) != 1 || !r.Route.Forwarded {
		t.Fatalf("AddRecipient(alias): %+v, %v", r, err)
	}
	if _, err := d.AddRecipient(user); err != nil {
		t.Fatal(err)
	}
	if got := d.Locals(); len(got) != 1 || got[0].Address != user {
		t.Errorf("Locals: each hosted mailbox once, got %+v", got)
	}
	body := msg("inbound")
	key := []byte("conformance-dedup-key")
	a, err := d.Commit(store.Content{Body: body, Subject: "inbound", DedupKey: key, Service: "mx", CID: "9"})
	if err != nil || len(a.Local) != 1 || len(a.QueueIDs) != 1 {
		t.Fatalf("Commit: %+v, %v", a, err)
	}
	q, err := b.GetQueue(a.QueueIDs[0])
	if err != nil || len(q.Rcpts) != 1 || q.Rcpts[0].Address != "carol@far.example" || q.From == "x@far.example" || q.CID != "9" {
		t.Errorf("forwarded copy (SRS sender expected): %+v, %v", q, err)
	}
	if !b.Seen(key) {
		t.Error("the dedup marker was not committed with the message")
	}
	d2 := b.BeginDelivery(store.Envelope{From: "x@far.example", Inbound: true})
	if _, err := d2.AddRecipient(alias); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Commit(store.Content{Body: body, DedupKey: key}); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("the same message again: %v, want ErrDuplicate", err)
	}
	if in, _ := b.GetMailbox(user, "INBOX"); in.Messages != 1 {
		t.Errorf("a duplicate was stored: INBOX has %d messages", in.Messages)
	}
	if qs, _ := b.ListQueue(); len(qs) != 1 {
		t.Errorf("a duplicate was queued: %d entries", len(qs))
	}
}

func testDedup(t *testing.T, b Backend) {
	withUser(t, b)
	key := []byte{0, 1, 2, 0xff}
	if b.Seen(key) {
		t.Error("a new key is seen")
	}
	if err := b.MarkSeen(key); err != nil {
		t.Fatal(err)
	}
	if !b.Seen(key) || b.Seen([]byte{0, 1, 2}) {
		t.Error("Seen after MarkSeen: exact keys only")
	}
	d := b.BeginDelivery(store.Envelope{From: "x@far.example", Inbound: true})
	if _, err := d.AddRecipient(user); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit(store.Content{Body: msg("dropped"), DedupKey: key}); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("a commit with a key marked seen: %v, want ErrDuplicate", err)
	}
}

// testQueueLeases: one node's claim keeps others off until it lapses or is
// released; renewing tells a node which leases it lost.
func testQueueLeases(t *testing.T, st Backend) {
	var ids []string
	for range 3 {
		acc, err := st.Accept(&store.Incoming{From: "a@x.test", Remote: []string{"b@y.test"}, Body: []byte("Subject: x\r\n\r\nx\r\n")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, acc.QueueID)
	}
	now := time.Now()
	got, err := st.ClaimQueue("n1", ids[:2], now.Add(time.Hour))
	if err != nil || !slices.Equal(got, ids[:2]) {
		t.Fatalf("n1 claims %v: %v", got, err)
	}
	got, _ = st.ClaimQueue("n2", ids, now.Add(time.Hour))
	if !slices.Equal(got, ids[2:]) {
		t.Fatalf("n2 claimed %v, want only the free %v", got, ids[2:])
	}
	if q, _ := st.GetQueue(ids[0]); !q.LeasedElsewhere("n2", now) || q.LeasedElsewhere("n1", now) {
		t.Fatalf("lease of %s: %+v", ids[0], q)
	}
	// A lapsed lease is free to take.
	if _, err := st.ClaimQueue("n1", ids[:1], now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ClaimQueue("n2", ids[:1], now.Add(time.Hour)); !slices.Equal(got, ids[:1]) {
		t.Fatalf("n2 could not take over a lapsed lease: %v", got)
	}
	lost, err := st.RenewQueueLeases("n1", ids[:2], now.Add(time.Hour))
	if err != nil || !slices.Equal(lost, ids[:1]) {
		t.Fatalf("n1 renewing: lost %v (%v), want %v", lost, err, ids[:1])
	}
	// Release all of n1's (a restart): n2 may claim ids[1] at once.
	if err := st.ReleaseQueue("n1", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ClaimQueue("n2", ids[1:2], now.Add(time.Hour)); !slices.Equal(got, ids[1:2]) {
		t.Fatalf("after n1 released, n2 claimed %v", got)
	}
	if err := st.ReleaseQueue("n2", ids[:1]); err != nil {
		t.Fatal(err)
	}
	if q, _ := st.GetQueue(ids[0]); q.LeaseOwner != "" || !q.LeaseUntil.IsZero() {
		t.Fatalf("released entry still leased: %+v", q)
	}
	// A captured entry is never claimed.
	if err := st.UpdateQueue(ids[0], func(q *store.QueueEntry) error { q.Captured = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ClaimQueue("n1", ids[:1], now.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("claimed a captured entry: %v", got)
	}
}
