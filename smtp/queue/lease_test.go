package queue

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/store"
)

// Two runners on one store stand for two nodes on one database: they share
// nothing but the store, so only the leases keep them from delivering the
// same entry. (internal/e2e runs real nodes on PostgreSQL.)

// subjects counts the received messages by Subject.
func subjects(msgs []mailtest.Received) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		for _, l := range strings.Split(string(m.Data), "\r\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				out[s]++
				break
			}
		}
	}
	return out
}

// TestTwoNodesDeliverOnce: two nodes racing over one queue deliver every
// message exactly once, and both take part.
func TestTwoNodesDeliverOnce(t *testing.T) {
	e := newEnv(t)
	for i := range 4 {
		e.dns.Add(t, fmt.Sprintf("r%d.test. 60 IN MX 10 mx.remote.test.", i))
	}
	rcv := mailtest.StartReceiver(t, nil)
	rcv.OnData = func(int, *mailtest.Received) error {
		time.Sleep(5 * time.Millisecond) // keep deliveries overlapping
		return nil
	}
	const n = 60
	for i := range n {
		to := fmt.Sprintf("u%d@r%d.test", i, i%4)
		if _, err := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{to}, Body: msg("alice@a.test", to, fmt.Sprintf("m%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	var nodes []*Runner
	for _, name := range []string{"node1", "node2"} {
		nodes = append(nodes, e.runner(t, rcv.Port, func(c *Config) {
			c.Node, c.Hostname, c.Batch, c.PerDest = name, name+".a.test", 3, 2
		}))
	}
	for _, r := range nodes {
		r.Kick()
	}
	waitQueueEmpty(t, e.st, 30*time.Second)
	got := subjects(rcv.Messages())
	for i := range n {
		if c := got[fmt.Sprintf("m%d", i)]; c != 1 {
			t.Errorf("message m%d delivered %d times, want exactly once", i, c)
		}
	}
	if len(got) != n {
		t.Errorf("%d distinct messages delivered, want %d", len(got), n)
	}
}

// faultyStore is a node's view of the store that can die: once dead, the
// node can no longer write (as a node killed, or cut from the database,
// mid-delivery), so it neither renews nor releases its lease nor records
// the outcome.
type faultyStore struct {
	*store.Store
	dead atomic.Bool
}

var errDead = errors.New("node is dead")

func (f *faultyStore) RenewQueueLeases(node string, ids []string, until time.Time) ([]string, error) {
	if f.dead.Load() {
		return nil, errDead
	}
	return f.Store.RenewQueueLeases(node, ids, until)
}

func (f *faultyStore) ReleaseQueue(node string, ids []string) error {
	if f.dead.Load() {
		return errDead
	}
	return f.Store.ReleaseQueue(node, ids)
}

func (f *faultyStore) RecordDeliveryDSN(id string, fn func(q *store.QueueEntry) (*store.Incoming, error)) (store.DSNDelivery, error) {
	if f.dead.Load() {
		return store.DSNDelivery{}, errDead
	}
	return f.Store.RecordDeliveryDSN(id, fn)
}

func (f *faultyStore) ClaimQueue(node string, ids []string, until time.Time) ([]string, error) {
	if f.dead.Load() {
		return nil, errDead
	}
	return f.Store.ClaimQueue(node, ids, until)
}

// TestLeaseTakeOver: node 1 dies in the middle of a delivery (the remote
// side never answers its DATA); node 2 leaves the entry alone while node
// 1's lease holds, then takes it over and delivers it once.
func TestLeaseTakeOver(t *testing.T) {
	e := newEnv(t)
	rcv := mailtest.StartReceiver(t, nil)
	const lease = 600 * time.Millisecond
	inData := make(chan struct{})
	dead := make(chan struct{})
	rcv.OnData = func(n int, _ *mailtest.Received) error {
		if n == 1 {
			close(inData)
			<-dead
			return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2}, Message: "the sender vanished"}
		}
		return nil
	}
	node1 := &faultyStore{Store: e.st}
	r1 := e.runner(t, rcv.Port, func(c *Config) { c.Store, c.Node, c.Lease = node1, "node1", lease })
	if _, err := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"bob@remote.test"}, Body: msg("alice@a.test", "bob@remote.test", "takeover")}); err != nil {
		t.Fatal(err)
	}
	r1.Kick()
	<-inData
	claimed := time.Now()
	q, _ := e.st.ListQueue()
	if len(q) != 1 || q[0].LeaseOwner != "node1" {
		t.Fatalf("node 1 delivers without its lease: %+v", q)
	}
	node1.dead.Store(true)
	r2 := e.runner(t, rcv.Port, func(c *Config) { c.Node, c.Lease = "node2", lease })
	r2.Kick()
	time.Sleep(lease / 3)
	if len(rcv.Messages()) != 0 {
		t.Fatal("node 2 delivered while node 1's lease held")
	}
	close(dead)
	waitQueueEmpty(t, e.st, 10*time.Second)
	if took := time.Since(claimed); took < lease/2 {
		t.Fatalf("taken over after %v, before the lease (%v) lapsed", took, lease)
	}
	if got := subjects(rcv.Messages()); got["takeover"] != 1 || len(got) != 1 {
		t.Fatalf("delivered %v, want takeover once", got)
	}
}

// TestLeaseRenewedDuringLongDelivery: a delivery that takes several lease
// periods keeps its lease; the other node never delivers it too.
func TestLeaseRenewedDuringLongDelivery(t *testing.T) {
	e := newEnv(t)
	rcv := mailtest.StartReceiver(t, nil)
	const lease = 300 * time.Millisecond
	rcv.OnData = func(n int, _ *mailtest.Received) error {
		time.Sleep(4 * lease)
		return nil
	}
	r1 := e.runner(t, rcv.Port, func(c *Config) { c.Node, c.Lease = "node1", lease })
	if _, err := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{"bob@remote.test"}, Body: msg("alice@a.test", "bob@remote.test", "slow")}); err != nil {
		t.Fatal(err)
	}
	r1.Kick()
	r2 := e.runner(t, rcv.Port, func(c *Config) { c.Node, c.Lease = "node2", lease })
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		r2.Kick()
		time.Sleep(50 * time.Millisecond)
	}
	waitQueueEmpty(t, e.st, 10*time.Second)
	time.Sleep(lease)
	if got := subjects(rcv.Messages()); got["slow"] != 1 {
		t.Fatalf("delivered %v, want slow once", got)
	}
}

// TestTwoNodesFileCapturedOnce: in capture mode (the demo) two nodes'
// runners both see the captured messages unfiled; each message still
// lands in the sender's Captured folder exactly once.
func TestTwoNodesFileCapturedOnce(t *testing.T) {
	e := newEnv(t)
	rcv := mailtest.StartReceiver(t, nil)
	const n = 40
	var ids []string
	for i := range n {
		acc, err := e.st.Accept(&store.Incoming{From: "alice@a.test", Login: "alice@a.test", Captured: true,
			Remote: []string{"bob@remote.test"}, Body: msg("alice@a.test", "bob@remote.test", fmt.Sprintf("c%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, acc.QueueID)
	}
	for _, name := range []string{"node1", "node2"} {
		r := e.runner(t, rcv.Port, func(c *Config) { c.Node, c.Hostname, c.NoDelivery = name, name+".a.test", true })
		r.Kick()
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for q, _ := e.st.GetQueue(id); !q.Filed; q, _ = e.st.GetQueue(id) {
			if time.Now().After(deadline) {
				t.Fatalf("captured %s not filed after 30s", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(200 * time.Millisecond) // a second filing would land by now
	msgs, err := e.st.ListMessages("alice@a.test", "Captured")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range msgs {
		body, err := e.st.Body(m.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		for s := range subjects([]mailtest.Received{{Data: body}}) {
			got[s]++
		}
	}
	for i := range n {
		if c := got[fmt.Sprintf("c%d", i)]; c != 1 {
			t.Errorf("captured c%d filed %d times, want exactly once", i, c)
		}
	}
	if len(msgs) != n {
		t.Errorf("Captured folder holds %d messages, want %d", len(msgs), n)
	}
}
