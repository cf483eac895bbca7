package store

import "sync"

// EventKind says what changed in a mailbox.
type EventKind int

const (
	EventNew     EventKind = iota + 1 // a message was added
	EventFlags                        // flags of a message changed
	EventExpunge                      // a message was removed
	EventMailbox                      // a mailbox was created, renamed or deleted
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
// blocks: a subscriber that does not keep up loses events, and is told so
// by a closed channel only on Unsubscribe (IMAP sessions reload state on
// their next command anyway).
type Notifier struct {
	mu   sync.Mutex
	subs map[string]map[chan Event]struct{}
}

func newNotifier() *Notifier { return &Notifier{subs: map[string]map[chan Event]struct{}{}} }

// Subscribe returns a channel of events for address and a cancel func.
func (n *Notifier) Subscribe(address string) (<-chan Event, func()) {
	ch := make(chan Event, 256)
	n.mu.Lock()
	if n.subs[address] == nil {
		n.subs[address] = map[chan Event]struct{}{}
	}
	n.subs[address][ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		if _, ok := n.subs[address][ch]; ok {
			delete(n.subs[address], ch)
			if len(n.subs[address]) == 0 {
				delete(n.subs, address)
			}
			close(ch)
		}
		n.mu.Unlock()
	}
}

// Publish sends events to their subscribers.
func (n *Notifier) Publish(events ...Event) {
	if len(events) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range events {
		for ch := range n.subs[e.Address] {
			select {
			case ch <- e:
			default:
			}
		}
	}
}
