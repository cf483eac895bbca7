package listen

import (
	"net/netip"
	"sync"
)

// PerIP caps simultaneous connections per client. An IPv4 client is one
// address; an IPv6 client is its /64, which one host or subscriber
// usually holds whole (counting per address would let it open 2^64 times
// the cap). One PerIP may be shared by several listeners (587 and 465)
// so the cap counts across them. A nil *PerIP has no cap.
type PerIP struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

// NewPerIP allows max connections per client (max <= 0: 20).
func NewPerIP(max int) *PerIP {
	if max <= 0 {
		max = 20
	}
	return &PerIP{max: max, n: map[string]int{}}
}

// Max is the cap (0 for a nil PerIP).
func (p *PerIP) Max() int {
	if p == nil {
		return 0
	}
	return p.max
}

// Count is how many connections ip's client holds now.
func (p *PerIP) Count(ip string) int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[ClientKey(ip)]
}

func (p *PerIP) acquire(ip string) bool {
	if p == nil {
		return true
	}
	k := ClientKey(ip)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[k] >= p.max {
		return false
	}
	p.n[k]++
	return true
}

func (p *PerIP) release(ip string) {
	if p == nil {
		return
	}
	k := ClientKey(ip)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[k]--; p.n[k] <= 0 {
		delete(p.n, k) // the map holds only clients connected now
	}
}

// ClientKey is the key limits count a client by: an IPv4 address as is,
// an IPv6 address as its /64 prefix ("2001:db8:1:2::/64"). A string that
// is not an address is its own key.
func ClientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}
