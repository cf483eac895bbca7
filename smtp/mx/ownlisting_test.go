package mx

import (
	"net"
	"testing"
	"time"
)

// waitStatus polls the MX's DNS list status until ok accepts it.
func waitStatus(t *testing.T, e *mxEnv, what string, ok func(DNSListStatus) bool) DNSListStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := e.srv.DNSListStatus()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status stayed %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The server's own outbound address is looked up in each blocklist
// through the shared resolver, cached, and looked up again every
// OwnCheckEvery: a listing shows, then its removal; a list that does
// not answer is unknown, not clean. Hits count per zone.
func TestOwnListing(t *testing.T) {
	bl, _ := ParseDNSBL("bl.test,slow.test,weak.test:junk")
	wl, _ := ParseDNSWL("wl.test")
	e := newMX(t, func(cfg *Config) {
		cfg.DNSBL, cfg.DNSWL, cfg.DNSListTimeout = bl, wl, 200*time.Millisecond
		cfg.OutboundIP, cfg.OwnCheckEvery = "192.0.2.10", 100*time.Millisecond
	})
	e.dns.Hang("10.2.0.192.slow.test")
	e.dns.Add(t, "10.2.0.192.bl.test. 60 IN A 127.0.0.2")
	st := waitStatus(t, e, "listed", func(st DNSListStatus) bool {
		return len(st.Own) == 3 && st.Own[0].Listed
	})
	if st.OwnIP != "192.0.2.10" || st.OwnIPFrom != "--outbound-ip" || st.Checked.IsZero() {
		t.Errorf("own address %q from %q checked %v", st.OwnIP, st.OwnIPFrom, st.Checked)
	}
	if st.Own[0].Zone != "bl.test" || st.Own[1].Zone != "slow.test" || st.Own[1].Listed || st.Own[1].Err == "" ||
		st.Own[2].Listed || st.Own[2].Err != "" {
		t.Errorf("listings %+v", st.Own)
	}
	e.dns.Remove("10.2.0.192.bl.test")
	waitStatus(t, e, "delisted", func(st DNSListStatus) bool { return len(st.Own) == 3 && !st.Own[0].Listed })

	// One listed client: its hit counts for bl.test only.
	e.dns.Add(t, "1.0.0.127.bl.test. 60 IN A 127.0.0.2")
	if err := e.send(t, "someone@sender.test", []string{"alice@a.test"}, junkMsg("someone@sender.test", "Hi", hamText, 1)); err == nil {
		t.Fatal("listed client accepted")
	}
	st = e.srv.DNSListStatus()
	want := []DNSListHit{{"wl.test", "allow", 0}, {"bl.test", "refuse", 1}, {"slow.test", "refuse", 0}, {"weak.test", "junk", 0}}
	if len(st.Hits) != len(want) {
		t.Fatalf("hits %+v", st.Hits)
	}
	for i := range want {
		if st.Hits[i] != want[i] {
			t.Errorf("hit %d: %+v, want %+v", i, st.Hits[i], want[i])
		}
	}
}

func TestOutboundIP(t *testing.T) {
	if ip, from := outboundIP("198.51.100.7", nil); ip.String() != "198.51.100.7" || from != "--outbound-ip" {
		t.Errorf("configured: %v %q", ip, from)
	}
	if ip, _ := outboundIP("not-an-ip", nil); ip != nil {
		t.Errorf("bad configured address used: %v", ip)
	}
	if ip, from := outboundIP("", &net.TCPAddr{IP: net.ParseIP("203.0.113.5"), Port: 25}); ip.String() != "203.0.113.5" || from != "the MX listener's address" {
		t.Errorf("public listener: %v %q", ip, from)
	}
	// A loopback listener is not what the internet sees: never looked up.
	if ip, from := outboundIP("", &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 25}); ip != nil && !public(ip) {
		t.Errorf("private address looked up: %v (%s)", ip, from)
	}
	for _, a := range []string{"10.1.2.3", "192.168.1.1", "127.0.0.1", "fe80::1", "fd00::1", "100.64.1.1", "100.127.255.1"} {
		if public(net.ParseIP(a)) {
			t.Errorf("%s counted as public", a)
		}
	}
}
