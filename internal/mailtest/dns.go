// Package mailtest has test helpers for mail flow: a DNS server on
// loopback answering from records the test sets, a scriptable receiving
// SMTP server, and a self-signed certificate. Only tests import it.
package mailtest

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// DNS is an authoritative test DNS server on 127.0.0.1 (UDP and TCP, same
// port). Names not set answer NXDOMAIN; set names answer what they have.
type DNS struct {
	Addr string

	mu      sync.Mutex
	records map[string][]dns.RR // lower-case FQDN
	hang    map[string]bool     // names never answered (timeouts)
	fail    map[string]bool     // names answered SERVFAIL
	delay   map[string]time.Duration
	queries int
	ad      bool // answers are "authenticated" (a validating resolver's AD bit)
}

// StartDNS starts a server; it stops when the test ends.
func StartDNS(t testing.TB) *DNS {
	t.Helper()
	d := &DNS{records: map[string][]dns.RR{}, hang: map[string]bool{}, fail: map[string]bool{}, delay: map[string]time.Duration{}}
	var pc net.PacketConn
	var ln net.Listener
	var err error
	// The TCP port must match the UDP one, which another test may hold.
	for i := 0; i < 20; i++ {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listening for test DNS: %v", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("listening for test DNS (tcp): %v", err)
	}
	d.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(d.serve)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	started := make(chan struct{}, 2)
	udp.NotifyStartedFunc = func() { started <- struct{}{} }
	tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	<-started
	<-started
	t.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	return d
}

// Add adds records in zone-file syntax, e.g. "b.test. MX 10 mx.b.test.".
func (d *DNS) Add(t testing.TB, lines ...string) {
	t.Helper()
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("test DNS record %q: %v", l, err)
		}
		d.add(rr)
	}
}

// AddTXT adds a TXT record of any length, split in 255-byte strings.
func (d *DNS) AddTXT(name, value string) {
	var parts []string
	for len(value) > 255 {
		parts = append(parts, value[:255])
		value = value[255:]
	}
	parts = append(parts, value)
	d.add(&dns.TXT{Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: parts})
}

// SetAD makes the server act as a validating resolver whose answers all
// validate: it sets the AD bit on every answer to a query that asks for
// DNSSEC (AD or DO set), as RFC 6840 §5.7-5.8 describes.
func (d *DNS) SetAD(on bool) {
	d.mu.Lock()
	d.ad = on
	d.mu.Unlock()
}

// Remove drops every record of name (any type).
func (d *DNS) Remove(name string) {
	d.mu.Lock()
	delete(d.records, strings.ToLower(dns.Fqdn(name)))
	d.mu.Unlock()
}

// Hang makes the server never answer queries for name: the client's
// lookup times out.
func (d *DNS) Hang(name string) {
	d.mu.Lock()
	d.hang[strings.ToLower(dns.Fqdn(name))] = true
	d.mu.Unlock()
}

// ServFail makes the server answer SERVFAIL for name (a resolver that
// could not get an answer), or answer again when on is false.
func (d *DNS) ServFail(name string, on bool) {
	d.mu.Lock()
	d.fail[strings.ToLower(dns.Fqdn(name))] = on
	d.mu.Unlock()
}

// Delay makes the server wait d before answering queries for name (a
// distant or slow authoritative server).
func (d *DNS) Delay(name string, wait time.Duration) {
	d.mu.Lock()
	d.delay[strings.ToLower(dns.Fqdn(name))] = wait
	d.mu.Unlock()
}

// Queries is how many queries were answered.
func (d *DNS) Queries() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries
}

func (d *DNS) add(rr dns.RR) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name := strings.ToLower(rr.Header().Name)
	d.records[name] = append(d.records[name], rr)
}

// answer is the records of qtype among rrs (those of name), or, as a
// recursive resolver answers, a CNAME there followed by its target's
// records (a few levels deep).
func (d *DNS) answer(name string, rrs []dns.RR, qtype uint16, depth int) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == qtype {
			c := dns.Copy(rr)
			c.Header().Name = name
			out = append(out, c)
		}
	}
	if len(out) > 0 || qtype == dns.TypeCNAME || depth > 4 {
		return out
	}
	for _, rr := range rrs {
		if cn, ok := rr.(*dns.CNAME); ok {
			c := dns.Copy(rr)
			c.Header().Name = name
			out = append(out, c)
			out = append(out, d.answer(cn.Target, d.records[strings.ToLower(cn.Target)], qtype, depth+1)...)
			break
		}
	}
	return out
}

func (d *DNS) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	d.mu.Lock()
	var wait time.Duration
	for _, q := range req.Question {
		wait = max(wait, d.delay[strings.ToLower(q.Name)])
	}
	d.mu.Unlock()
	time.Sleep(wait)
	d.mu.Lock()
	for _, q := range req.Question {
		if d.hang[strings.ToLower(q.Name)] {
			d.mu.Unlock()
			return
		}
	}
	d.queries++
	opt := req.IsEdns0()
	m.AuthenticatedData = d.ad && (req.AuthenticatedData || opt != nil && opt.Do())
	for _, q := range req.Question {
		if d.fail[strings.ToLower(q.Name)] {
			m.Rcode = dns.RcodeServerFailure
			continue
		}
		rrs, ok := d.records[strings.ToLower(q.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
			m.Ns = append(m.Ns, negativeSOA(q.Name))
			continue
		}
		answer := d.answer(q.Name, rrs, q.Qtype, 0)
		if len(answer) == 0 {
			m.Ns = append(m.Ns, negativeSOA(q.Name))
		}
		m.Answer = append(m.Answer, answer...)
	}
	d.mu.Unlock()
	w.WriteMsg(m)
}

// negativeSOA is the SOA a negative answer carries in its authority
// section (RFC 2308 §3): how long the "no" may be cached, here 60 s.
func negativeSOA(name string) dns.RR {
	zone := "."
	if labels := dns.SplitDomainName(name); len(labels) > 0 {
		zone = labels[len(labels)-1] + "."
	}
	return &dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns: "ns.invalid.", Mbox: "hostmaster.invalid.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 60}
}
