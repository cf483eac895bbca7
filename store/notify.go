package store

import (
	"sync"
	"sync/atomic"
)

// EventKind says what changed in a mailbox.
type EventKind int

const (
	EventNew     EventKind = iota + 1 // a message was added
	EventFlags                        // flags of a message changed
	EventExpunge                      // a message was removed
	EventMailbox                      // a mailbox was created, renamed, deleted or (un)subscribed
)

// Event is one committed change, published after the commit.
type Event struct {
	Kind    EventKind
	Address string // the mailbox owner
	Mailbox string // mailbox name
	UID     uint32
	Flags   []string
	ModSeq  uint64
}

// Notifier fans events out to subscribers per address. Publishing never
// blocks: a subscriber that does not keep up loses events. Subscribe's
// channel says nothing about losses; a Watcher does (Lost), so an IMAP
// session can reload its state from the store instead.
//
// With several nodes on one database, Publish also hands the events to the
// other nodes (feed.go), which fan them out to their own subscribers.
type Notifier struct {
	mu   sync.Mutex
	subs map[string]map[chan Event]*atomic.Bool
	// remote, when set, sends published events to the other nodes.
	remote func([]Event)
}

func newNotifier() *Notifier { return &Notifier{subs: map[string]map[chan Event]*atomic.Bool{}} }

// Subscribe returns a channel of events for address and a cancel func.
func (n *Notifier) Subscribe(address string) (<-chan Event, func()) {
	w := n.Watch(address)
	return w.C, w.Close
}

// Watcher receives the events of one address.
type Watcher struct {
	// C delivers events in commit order of each publisher.
	C     <-chan Event
	lost  *atomic.Bool
	close func()
}

// Lost reports whether events were dropped since the last call, and
// resets the mark.
func (w *Watcher) Lost() bool { return w.lost.Swap(false) }

// Close stops the watcher and closes C.
func (w *Watcher) Close() { w.close() }

// Watch subscribes to the events of address, with loss detection.
func (n *Notifier) Watch(address string) *Watcher {
	ch := make(chan Event, 256) // a slow session reloads instead (Lost)
	lost := new(atomic.Bool)
	n.mu.Lock()
	if n.subs[address] == nil {
		n.subs[address] = map[chan Event]*atomic.Bool{}
	}
	n.subs[address][ch] = lost
	n.mu.Unlock()
	var once sync.Once
	return &Watcher{C: ch, lost: lost, close: func() {
		once.Do(func() {
			n.mu.Lock()
			if _, ok := n.subs[address][ch]; ok {
				delete(n.subs[address], ch)
				if len(n.subs[address]) == 0 {
					delete(n.subs, address)
				}
				close(ch)
			}
			n.mu.Unlock()
		})
	}}
}

// Publish sends events to their subscribers, on every node.
func (n *Notifier) Publish(events ...Event) {
	if len(events) == 0 {
		return
	}
	n.publishLocal(events)
	if n.remote != nil {
		n.remote(events)
	}
}

// publishLocal sends events to this process's subscribers.
func (n *Notifier) publishLocal(events []Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range events {
		for ch, lost := range n.subs[e.Address] {
			select {
			case ch <- e:
			default:
				lost.Store(true)
			}
		}
	}
}

// loseAll marks every watcher as having lost events and wakes it with an
// EventMailbox for no mailbox in particular, so IMAP sessions reload their
// state and web pages their lists: used after a gap in the feed from the
// other nodes.
func (n *Notifier) loseAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for addr, subs := range n.subs {
		for ch, lost := range subs {
			lost.Store(true)
			select {
			case ch <- Event{Kind: EventMailbox, Address: addr}:
			default:
			}
		}
	}
}
