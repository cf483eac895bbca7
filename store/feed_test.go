package store

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// hub is an in-process Feed between stores, as LISTEN/NOTIFY is between
// nodes: every payload reaches every listener, the publisher's included.
// (store/pgfeed runs the same contract on PostgreSQL.)
type hub struct {
	mu   sync.Mutex
	subs map[chan []byte]bool
}

func newHub() *hub { return &hub{subs: map[chan []byte]bool{}} }

func (h *hub) Publish(ctx context.Context, p []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- append([]byte(nil), p...):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (h *hub) Listen(ctx context.Context, fn func([]byte)) error {
	ch := make(chan []byte, 1024)
	h.mu.Lock()
	h.subs[ch] = true
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}()
	fn(nil)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case p := <-ch:
			fn(p)
		}
	}
}

// gap makes every listener miss what came before (a reconnection).
func (h *hub) gap() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		ch <- nil
	}
}

// feedNodes opens n stores on one hub, each with the same domain and user
// (the stand-in for one shared database is the same accounts in each).
func feedNodes(t *testing.T, n int) (*hub, []*Store) {
	h := newHub()
	var out []*Store
	for range n {
		st, err := Open(t.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), NoSync: true, Feed: h})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := st.AddDomain("doe.com"); err != nil {
			t.Fatal(err)
		}
		st.SetDomainSwitch("doe.com", "smtp", true)
		if _, err := st.AddUser("jane@doe.com", "Jan-pass-h3Y!p"); err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	// Let every listener join before anything is published.
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.Lock()
		joined := len(h.subs)
		h.mu.Unlock()
		if joined == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d nodes listening", joined, n)
		}
		time.Sleep(time.Millisecond)
	}
	return h, out
}

// TestFeedEventsCrossNodes: mail stored on node A is announced to node B's
// watchers within a second, once, and A's own watchers see it once too.
func TestFeedEventsCrossNodes(t *testing.T) {
	_, nodes := feedNodes(t, 2)
	a, b := nodes[0], nodes[1]
	wb := b.Events.Watch("jane@doe.com")
	defer wb.Close()
	wa := a.Events.Watch("jane@doe.com")
	defer wa.Close()
	_, err := a.Accept(&Incoming{From: "x@remote.test", Local: []LocalRcpt{{Address: "jane@doe.com"}}, Body: []byte("Subject: hi\r\n\r\nhi\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range map[string]*Watcher{"A": wa, "B": wb} {
		select {
		case e := <-w.C:
			if e.Kind != EventNew || e.Mailbox != "INBOX" || e.UID == 0 {
				t.Fatalf("node %s got %+v", name, e)
			}
		case <-time.After(time.Second):
			t.Fatalf("node %s: no new-mail event within a second", name)
		}
		select {
		case e := <-w.C:
			t.Fatalf("node %s got a second event %+v (its own echo?)", name, e)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestFeedRevocationCrossNodes: a password changed on node A ends the
// session logged in on node B: B's Revoked turns true and its revocation
// signal fires (IMAP IDLE wakes on it).
func TestFeedRevocationCrossNodes(t *testing.T) {
	_, nodes := feedNodes(t, 2)
	a, b := nodes[0], nodes[1]
	p, err := b.Login(context.Background(), ProtoIMAP, "192.0.2.1", "jane@doe.com", "Jan-pass-h3Y!p")
	if err != nil {
		t.Fatal(err)
	}
	signal := b.RevocationSignal()
	if b.Revoked(p) {
		t.Fatal("revoked before any change")
	}
	if err := a.SetUserPassword("jane@doe.com", "New-pass-k8T!z"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-signal:
	case <-time.After(time.Second):
		t.Fatal("node B's revocation signal did not fire within a second")
	}
	if !b.Revoked(p) {
		t.Fatal("node B's session survived a password change on node A")
	}
	// Turning Authenticated SMTP off on A ends B's SMTP sessions of the domain.
	ps := Principal{Kind: KindUser, Domain: "doe.com", Address: "jane@doe.com", since: b.revoked.current()}
	if err := a.SetDomainSwitch("doe.com", "smtp", false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for !b.SMTPRevoked(ps) {
		if time.Now().After(deadline) {
			t.Fatal("node B's SMTP session survived the switch turned off on node A")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFeedGap: after a gap in the feed, watchers are told they lost
// events (IMAP sessions reload) and are woken.
func TestFeedGap(t *testing.T) {
	h, nodes := feedNodes(t, 2)
	w := nodes[1].Events.Watch("jane@doe.com")
	defer w.Close()
	h.gap()
	select {
	case e := <-w.C:
		if e.Kind != EventMailbox || !w.Lost() {
			t.Fatalf("after a gap: %+v, lost %v", e, w.Lost())
		}
	case <-time.After(time.Second):
		t.Fatal("watcher not woken after a gap")
	}
}

// TestPackEvents: many events go out in payloads that each fit a NOTIFY,
// all of them, in order.
func TestPackEvents(t *testing.T) {
	var evs []Event
	for i := range 500 {
		evs = append(evs, Event{Kind: EventFlags, Address: "jane@doe.com", Mailbox: strings.Repeat("m", 100), UID: uint32(i + 1), Flags: []string{`\Seen`, `\Flagged`}, ModSeq: uint64(i)})
	}
	ps := packEvents("n1", evs)
	if len(ps) < 2 {
		t.Fatalf("%d payloads for 500 long events", len(ps))
	}
	next := uint32(1)
	for _, p := range ps {
		if len(p) > MaxFeedPayload {
			t.Fatalf("payload of %d bytes", len(p))
		}
		var m feedMsg
		if err := json.Unmarshal(p, &m); err != nil || m.Node != "n1" {
			t.Fatalf("payload %q: %v", p[:40], err)
		}
		for _, e := range m.Events {
			if e.UID != next {
				t.Fatalf("event UID %d, want %d", e.UID, next)
			}
			next++
		}
	}
	if next != 501 {
		t.Fatalf("%d events arrived, want 500", next-1)
	}
}

// TestFeedQueueKick: queue retry on one node wakes the queue runners of
// the others.
func TestFeedQueueKick(t *testing.T) {
	_, nodes := feedNodes(t, 2)
	kicked := make(chan struct{}, 1)
	nodes[1].OnQueued(func() {
		select {
		case kicked <- struct{}{}:
		default:
		}
	})
	nodes[0].kickQueues()
	select {
	case <-kicked:
	case <-time.After(time.Second):
		t.Fatal("node B's queue was not woken")
	}
}
