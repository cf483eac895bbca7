package mx

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Exact-duplicate suppression. A sending MTA that crashes after our 250
// but before it recorded the delivery sends the same message again (RFC
// 5321 §6.1 accepts that risk). When the same sender sends the very same
// bytes to the same recipients within dedupWindow, we answer 250 again
// without storing a second copy, so a retry after a crash arrives once.
// Only identical messages match (the key hashes the whole data), so
// nothing a third party sends can suppress someone else's mail. The memory
// is per process and bounded.

const (
	dedupWindow = 24 * time.Hour
	dedupMax    = 50000
)

type dedupKey [32]byte

type dedup struct {
	mu   sync.Mutex
	seen map[dedupKey]time.Time
}

func dedupKeyOf(from string, rcpts []rcpt, msg []byte) dedupKey {
	h := sha256.New()
	h.Write([]byte(from))
	for _, r := range rcpts {
		h.Write([]byte{0})
		h.Write([]byte(r.addr))
	}
	h.Write([]byte{0, 0})
	h.Write(msg)
	var k dedupKey
	copy(k[:], h.Sum(nil))
	return k
}

func (d *dedup) has(k dedupKey) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.seen[k]
	return ok && time.Since(t) < dedupWindow
}

func (d *dedup) add(k dedupKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil || len(d.seen) >= dedupMax {
		d.prune()
	}
	d.seen[k] = time.Now()
}

// prune drops expired entries, or everything when still full.
func (d *dedup) prune() {
	if d.seen == nil {
		d.seen = map[dedupKey]time.Time{}
		return
	}
	for k, t := range d.seen {
		if time.Since(t) >= dedupWindow {
			delete(d.seen, k)
		}
	}
	if len(d.seen) >= dedupMax {
		d.seen = map[dedupKey]time.Time{}
	}
}
