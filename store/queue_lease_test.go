package store

import (
	"slices"
	"testing"
	"time"
)

// TestQueueLeases: one node's claim keeps others off until it lapses or is
// released; renewing tells a node which leases it lost.
func TestQueueLeases(t *testing.T) {
	st := authTestStore(t)
	var ids []string
	for range 3 {
		acc, err := st.Accept(&Incoming{From: "a@x.test", Remote: []string{"b@y.test"}, Body: []byte("Subject: x\r\n\r\nx\r\n")})
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
	if err := st.UpdateQueue(ids[0], func(q *QueueEntry) error { q.Captured = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ClaimQueue("n1", ids[:1], now.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("claimed a captured entry: %v", got)
	}
}
