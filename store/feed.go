package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Feed carries change notices between the nodes that share one database:
// PostgreSQL's LISTEN/NOTIFY (store/pgfeed). A database only one process
// opens (bbolt) has none, and changes stay in the process.
//
// What crosses nodes: the Notifier's events (new mail, flags, expunges,
// mailbox changes) for IMAP IDLE and webmail on the other nodes, the
// revocation keys of revoke.go (a password changed, an account removed, a
// switch turned off), which end sessions there and drop cached password
// checks, and a wake-up of the queue runners after `queue retry`. The decoded-record cache needs nothing: it checks the stored
// bytes on every use (recordcache.go). Everything is published after the
// change is committed, so a node that hears of it reads the new state.
type Feed interface {
	// Publish sends payload (JSON, at most MaxFeedPayload bytes) to every
	// node listening, this one included.
	Publish(ctx context.Context, payload []byte) error
	// Listen calls fn with every payload published, in order, until ctx
	// ends; it reconnects by itself. After each connection, the first one
	// included, it calls fn(nil): what was published while it was not
	// listening is lost, so the store makes its sessions reload.
	Listen(ctx context.Context, fn func(payload []byte)) error
}

// MaxFeedPayload is the largest payload the store publishes (PostgreSQL's
// NOTIFY takes up to 8000 bytes).
const MaxFeedPayload = 7900

// feedMsg is one published payload.
type feedMsg struct {
	Node   string      `json:"n"`
	Events []feedEvent `json:"e,omitempty"`
	Revoke []string    `json:"r,omitempty"`
	// Kick wakes the queue runners (an admin made entries due).
	Kick bool `json:"q,omitempty"`
}

type feedEvent struct {
	Kind    EventKind `json:"k"`
	Address string    `json:"a"`
	Mailbox string    `json:"m"`
	UID     uint32    `json:"u,omitempty"`
	Flags   []string  `json:"f,omitempty"`
	ModSeq  uint64    `json:"s,omitempty"`
}

// defaultRecheck is Options.RecheckEvery's default.
const defaultRecheck = 5 * time.Minute

// feedState is the store's end of the feed.
type feedState struct {
	feed   Feed
	node   string        // this process, to skip its own payloads
	events chan []Event  // to the publisher goroutine
	stop   chan struct{} // closed by stopFeed: publish what is queued, then end
	cancel context.CancelFunc
	done   chan struct{} // publisher and listener ended
	close  func()        // closes a feed the store made (nil: the caller's)
}

// startFeed joins the other nodes through f: published events and
// revocations go out, theirs come in.
func (s *Store) startFeed(f Feed, closer func(), recheck time.Duration) {
	id := make([]byte, 8)
	rand.Read(id)
	ctx, cancel := context.WithCancel(context.Background())
	fs := &feedState{feed: f, node: hex.EncodeToString(id), events: make(chan []Event, 1024),
		stop: make(chan struct{}), cancel: cancel, done: make(chan struct{}), close: closer}
	s.feed = fs
	s.Events.remote = func(evs []Event) {
		select {
		case fs.events <- evs:
		case <-fs.stop:
		}
	}
	s.revoked.remote = func(keys []string) { s.publishRevoke(ctx, keys) }
	listened := make(chan struct{})
	go func() {
		defer close(listened)
		f.Listen(ctx, s.onFeed)
	}()
	if recheck <= 0 {
		recheck = defaultRecheck
	}
	go func() {
		// A notice the sending node failed to publish is lost with no gap
		// here: check the sessions now and then anyway.
		t := time.NewTicker(recheck)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.revoked.markGap()
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		s.publishEvents(ctx)
		<-listened
		close(fs.done)
	}()
}

// stopFeed sends what is still queued (for a short while) and stops.
func (s *Store) stopFeed() {
	if s.feed == nil {
		return
	}
	close(s.feed.stop)
	select {
	case <-s.feed.done:
	case <-time.After(2 * time.Second):
		s.feed.cancel()
		<-s.feed.done
	}
	s.feed.cancel()
	if s.feed.close != nil {
		s.feed.close()
	}
}

// publishEvents sends queued events until stopFeed, packing
// what has piled up into as few payloads as fit.
func (s *Store) publishEvents(ctx context.Context) {
	fs := s.feed
	defer fs.cancel()
	for {
		var batch []Event
		select {
		case batch = <-fs.events:
		case <-fs.stop:
		}
	more:
		for len(batch) < 512 {
			select {
			case e := <-fs.events:
				batch = append(batch, e...)
			default:
				break more
			}
		}
		if len(batch) == 0 {
			return // stopping, and nothing left
		}
		for _, p := range packEvents(fs.node, batch) {
			s.publish(ctx, p)
		}
	}
}

// packEvents encodes events into payloads of at most MaxFeedPayload bytes.
func packEvents(node string, evs []Event) [][]byte {
	var out [][]byte
	msg := feedMsg{Node: node}
	size := 0
	flush := func() {
		if len(msg.Events) > 0 {
			b, _ := json.Marshal(msg)
			out = append(out, b)
		}
		msg.Events, size = nil, 0
	}
	for _, e := range evs {
		fe := feedEvent{e.Kind, e.Address, e.Mailbox, e.UID, e.Flags, e.ModSeq}
		b, _ := json.Marshal(fe)
		if len(b)+64 > MaxFeedPayload {
			continue // an address and a mailbox name are never this long
		}
		if size+len(b)+64 > MaxFeedPayload {
			flush()
		}
		msg.Events = append(msg.Events, fe)
		size += len(b) + 1
	}
	flush()
	return out
}

// publishRevoke sends revoked keys to the other nodes before returning,
// so an admin command that revokes has told every node when it ends.
func (s *Store) publishRevoke(ctx context.Context, keys []string) {
	msg := feedMsg{Node: s.feed.node}
	size := 0
	for _, k := range keys {
		if size+len(k)+64 > MaxFeedPayload && len(msg.Revoke) > 0 {
			b, _ := json.Marshal(msg)
			s.publish(ctx, b)
			msg.Revoke, size = nil, 0
		}
		msg.Revoke = append(msg.Revoke, k)
		size += len(k) + 3
	}
	if len(msg.Revoke) > 0 {
		b, _ := json.Marshal(msg)
		s.publish(ctx, b)
	}
}

// publish sends one payload, trying a few times over about two seconds
// (a database restarting); then the notice is lost and logged.
func (s *Store) publish(ctx context.Context, p []byte) {
	var err error
	for _, wait := range []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond, 1500 * time.Millisecond} {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = s.feed.feed.Publish(pctx, p)
		cancel()
		if err == nil {
			return
		}
	}
	s.log.Warn("change not sent to the other nodes", "err", err)
}

// onFeed applies a payload from another node (its own are skipped: they
// were applied when published).
func (s *Store) onFeed(p []byte) {
	if p == nil {
		// A gap: sessions reload their state, cached password checks go,
		// and open sessions are checked against the database (a password
		// may have changed meanwhile, its revocation lost).
		s.auth.forgetAll()
		s.revoked.markGap()
		s.Events.loseAll()
		return
	}
	var msg feedMsg
	if err := json.Unmarshal(p, &msg); err != nil {
		s.log.Warn("unreadable change notice from another node", "err", err)
		return
	}
	if msg.Node == s.feed.node {
		return
	}
	if len(msg.Revoke) > 0 {
		s.auth.forgetAll()
		s.revoked.apply(msg.Revoke)
	}
	if msg.Kick && s.queueKick != nil {
		s.queueKick()
	}
	if len(msg.Events) > 0 {
		evs := make([]Event, len(msg.Events))
		for i, e := range msg.Events {
			evs[i] = Event{Kind: e.Kind, Address: e.Address, Mailbox: e.Mailbox, UID: e.UID, Flags: e.Flags, ModSeq: e.ModSeq}
		}
		s.Events.publishLocal(evs)
	}
}

// kickQueues wakes this node's queue runner and the other nodes'.
func (s *Store) kickQueues() {
	if s.queueKick != nil {
		s.queueKick()
	}
	if s.feed != nil {
		b, _ := json.Marshal(feedMsg{Node: s.feed.node, Kick: true})
		s.publish(context.Background(), b)
	}
}
