package mx

import (
	"net"
	"sort"
	"sync"
	"time"
)

// OwnListing is what one blocklist says about this server's outbound
// address: what receivers that use the same list will see.
type OwnListing struct {
	Zone   string
	Listed bool
	Err    string // the lookup failed: listed or not is unknown
}

// DNSListHit is how many connections one DNS list zone listed.
type DNSListHit struct {
	Zone string
	Kind string // "refuse", "junk" or "allow"
	Hits int64
}

// DNSListStatus is the DNS lists as the admin panel shows them: hits per
// zone since the start, and the server's own outbound address looked up
// in the blocklists (cached; refreshed every Config.OwnCheckEvery).
type DNSListStatus struct {
	Hits []DNSListHit // every configured zone, in configuration order
	// OwnIP is the outbound address looked up ("" when unknown) and
	// OwnIPFrom where it came from, or why it is unknown.
	OwnIP, OwnIPFrom string
	Own              []OwnListing // per blocklist zone; none before the first check
	Checked          time.Time    // when Own was looked up (zero: not yet)
}

// ownCheck caches the last look-up of our own address.
type ownCheck struct {
	once sync.Once
	mu   sync.Mutex
	last DNSListStatus // OwnIP, OwnIPFrom, Own, Checked
}

// DNSListStatus returns the hits per zone and the last check of our own
// outbound address.
func (s *Server) DNSListStatus() DNSListStatus {
	s.own.mu.Lock()
	st := s.own.last
	st.Own = append([]OwnListing(nil), st.Own...)
	s.own.mu.Unlock()
	hits := s.DNSListHits()
	for _, z := range s.cfg.DNSWL {
		st.Hits = append(st.Hits, DNSListHit{Zone: z, Kind: "allow", Hits: hits[z]})
	}
	for _, bl := range s.cfg.DNSBL {
		kind := "refuse"
		if bl.Junk {
			kind = "junk"
		}
		st.Hits = append(st.Hits, DNSListHit{Zone: bl.Zone, Kind: kind, Hits: hits[bl.Zone]})
	}
	// Zones no longer configured that still counted hits.
	var old []string
	for z := range hits {
		if !s.configuredZone(z) {
			old = append(old, z)
		}
	}
	sort.Strings(old)
	for _, z := range old {
		st.Hits = append(st.Hits, DNSListHit{Zone: z, Hits: hits[z]})
	}
	return st
}

func (s *Server) configuredZone(z string) bool {
	for _, w := range s.cfg.DNSWL {
		if w == z {
			return true
		}
	}
	for _, bl := range s.cfg.DNSBL {
		if bl.Zone == z {
			return true
		}
	}
	return false
}

// startOwnCheck looks our own address up now and then every
// OwnCheckEvery until the server stops (once per server, from Serve).
func (s *Server) startOwnCheck(ln net.Listener) {
	if len(s.cfg.DNSBL) == 0 {
		return
	}
	s.own.once.Do(func() {
		go func() {
			t := time.NewTicker(s.cfg.OwnCheckEvery)
			defer t.Stop()
			for {
				s.checkOwn(ln.Addr())
				select {
				case <-s.ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	})
}

// checkOwn looks the outbound address up in every blocklist.
func (s *Server) checkOwn(listenAddr net.Addr) {
	ip, from := outboundIP(s.cfg.OutboundIP, listenAddr)
	st := DNSListStatus{OwnIPFrom: from, Checked: time.Now()}
	if ip != nil {
		st.OwnIP = ip.String()
		for _, bl := range s.cfg.DNSBL {
			ok, err := s.listed(s.ctx, ip, bl.Zone)
			l := OwnListing{Zone: bl.Zone, Listed: ok}
			if err != nil {
				l.Err = err.Error()
			}
			if ok {
				s.log.Warn("this server's outbound address is on a DNS blocklist", "ip", st.OwnIP, "zone", bl.Zone)
			}
			st.Own = append(st.Own, l)
		}
	}
	s.own.mu.Lock()
	s.own.last = st
	s.own.mu.Unlock()
}

// outboundIP is the address other servers see our mail come from: the
// configured one (--outbound-ip), else the MX listener's address when it
// is public, else the address the system sends from toward the internet
// when that is public. A private address says nothing about what
// blocklists see (NAT), so it is reported, not looked up.
func outboundIP(configured string, listenAddr net.Addr) (net.IP, string) {
	if configured != "" {
		if ip := net.ParseIP(configured); ip != nil {
			return ip, "--outbound-ip"
		}
		return nil, "--outbound-ip " + configured + " is not an IP address"
	}
	if ta, ok := listenAddr.(*net.TCPAddr); ok && public(ta.IP) {
		return ta.IP, "the MX listener's address"
	}
	// A UDP "connection" sends nothing: it only asks the system which
	// source address it would use.
	c, err := net.Dial("udp", "192.0.2.1:25")
	if err != nil {
		return nil, "unknown (no route to the internet): set --outbound-ip"
	}
	defer c.Close()
	ip := c.LocalAddr().(*net.UDPAddr).IP
	if !public(ip) {
		return nil, "the system sends from " + ip.String() + ", a private address (NAT?): set --outbound-ip to the public one"
	}
	return ip, "the system's route to the internet"
}

// public reports whether ip is a global unicast address outside the
// private, loopback and link-local ranges.
func public(ip net.IP) bool {
	return ip != nil && ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !sharedNAT.Contains(ip)
}

// sharedNAT is carrier-grade NAT's shared address space (RFC 6598).
var sharedNAT = &net.IPNet{IP: net.IPv4(100, 64, 0, 0), Mask: net.CIDRMask(10, 32)}
