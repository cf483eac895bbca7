package mx

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// DNSBL is one DNS blocklist zone (RFC 5782) and what a listing does.
type DNSBL struct {
	Zone string
	// Junk files a listed client's mail in Junk instead of refusing it.
	Junk bool
}

// ParseDNSBL reads the --dnsbl form: zones separated by commas, each
// optionally ":junk" ("zen.example,weak.example:junk").
func ParseDNSBL(s string) ([]DNSBL, error) {
	var out []DNSBL
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		zone, mode, _ := strings.Cut(f, ":")
		if mode != "" && mode != "junk" && mode != "refuse" {
			return nil, fmt.Errorf("--dnsbl %q: the mode after the zone is refuse or junk", f)
		}
		if err := checkZone(zone); err != nil {
			return nil, err
		}
		out = append(out, DNSBL{Zone: strings.ToLower(zone), Junk: mode == "junk"})
	}
	return out, nil
}

// ParseDNSWL reads the --dnswl form: zones separated by commas.
func ParseDNSWL(s string) ([]string, error) {
	var out []string
	for _, z := range strings.Split(s, ",") {
		if z = strings.TrimSpace(z); z == "" {
			continue
		}
		if err := checkZone(z); err != nil {
			return nil, err
		}
		out = append(out, strings.ToLower(z))
	}
	return out, nil
}

func checkZone(z string) error {
	if !strings.Contains(z, ".") || strings.ContainsAny(z, " /@") {
		return fmt.Errorf("DNS list zone %q: want a domain such as zen.example.org", z)
	}
	return nil
}

// dnsListName is the name to look up for ip in zone: the address's
// octets (IPv4) or nibbles (IPv6) reversed, then the zone (RFC 5782 §2).
func dnsListName(ip net.IP, zone string) string {
	if v4 := ip.To4(); v4 != nil {
		return fmt.Sprintf("%d.%d.%d.%d.%s", v4[3], v4[2], v4[1], v4[0], zone)
	}
	var b strings.Builder
	ip16 := ip.To16()
	for i := len(ip16) - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "%x.%x.", ip16[i]&0xf, ip16[i]>>4)
	}
	return b.String() + zone
}

// listed asks zone about ip: true for an answer in 127.0.0.0/8 other than
// 127.255.255.0/24 (the codes lists use for "you may not query us").
// A lookup that fails or times out counts as not listed, and says so.
func (s *Server) listed(ctx context.Context, ip net.IP, zone string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DNSListTimeout)
	defer cancel()
	addrs, err := s.res.LookupIPAddr(ctx, dnsListName(ip, zone))
	if err != nil {
		if de, ok := err.(*net.DNSError); ok && de.IsNotFound {
			return false, nil
		}
		return false, err
	}
	for _, a := range addrs {
		v4 := a.IP.To4()
		if v4 != nil && v4[0] == 127 && !(v4[1] == 255 && v4[2] == 255) {
			return true, nil
		}
	}
	return false, nil
}

// dnsListVerdict is what the DNS lists said about a connection's client.
type dnsListVerdict struct {
	allow  string // the allowlist zone that listed it
	refuse string // the blocklist zone that refuses it
	junk   string // the blocklist zone that sends its mail to Junk
}

// checkDNSLists looks the client up once per connection: allowlists
// first (a listed client skips the blocklists), then blocklists in order.
func (s *session) checkDNSLists() dnsListVerdict {
	if s.lists != nil {
		return *s.lists
	}
	var v dnsListVerdict
	defer func() { s.lists = &v }()
	ip := net.ParseIP(s.ip)
	if ip == nil || (len(s.s.cfg.DNSBL) == 0 && len(s.s.cfg.DNSWL) == 0) {
		return v
	}
	start := time.Now()
	for _, z := range s.s.cfg.DNSWL {
		ok, err := s.s.listed(s.s.ctx, ip, z)
		if err != nil {
			s.log.Warn("mx DNS allowlist lookup failed", "zone", z, "err", err)
		}
		if ok {
			v.allow = z
			s.s.countList(z)
			s.log.Info("mx client on a DNS allowlist", "zone", z)
			return v
		}
	}
	for _, bl := range s.s.cfg.DNSBL {
		ok, err := s.s.listed(s.s.ctx, ip, bl.Zone)
		if err != nil {
			s.log.Warn("mx DNS blocklist lookup failed: taken as not listed", "zone", bl.Zone, "err", err, "after", time.Since(start).Round(time.Millisecond))
			continue
		}
		if !ok {
			continue
		}
		s.s.countList(bl.Zone)
		if bl.Junk {
			if v.junk == "" {
				v.junk = bl.Zone
			}
			continue
		}
		v.refuse = bl.Zone
		return v
	}
	return v
}

// countList counts a connection a zone listed, in the store (per zone
// and day, so the counts survive a restart).
func (s *Server) countList(zone string) {
	if err := s.st.CountDNSListHit(zone); err != nil {
		s.log.Error("mx counting a DNS list hit", "zone", zone, "err", err)
	}
}

// DNSListHits returns how many connections each DNS list zone listed,
// over every day the store has counted.
func (s *Server) DNSListHits() map[string]int64 {
	hits, err := s.st.DNSListHits(0)
	if err != nil {
		s.log.Error("mx reading the DNS list hits", "err", err)
	}
	return hits
}
