package dnsx

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/authsmtp/authsmtp/internal/mailtest"
)

// fakeClock is the cache's clock, moved by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestResolver(t *testing.T, d *mailtest.DNS) (*Resolver, *fakeClock) {
	t.Helper()
	r, err := New(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	r.Timeout = 5 * time.Second
	clock := &fakeClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	r.now = clock.now
	return r, clock
}

// txt looks name up and fails the test unless it gets want and the
// server saw wantQueries queries in all.
func txt(t *testing.T, r *Resolver, d *mailtest.DNS, name, want string, wantQueries int) {
	t.Helper()
	v, err := r.LookupTXT(context.Background(), name)
	got := fmt.Sprint(v)
	if err != nil {
		got = "error: " + err.Error()
	}
	if got != want || d.Queries() != wantQueries {
		t.Fatalf("LookupTXT(%s) = %s after %d queries; want %s after %d", name, got, d.Queries(), want, wantQueries)
	}
}

func TestCacheHonoursTTL(t *testing.T) {
	d := mailtest.StartDNS(t)
	d.Add(t, `short.test. 30 IN TXT "v=spf1 -all"`, `long.test. 86400 IN TXT "v=DMARC1; p=none"`)
	r, clock := newTestResolver(t, d)
	r.CacheTTL = 10 * time.Minute
	txt(t, r, d, "short.test", "[v=spf1 -all]", 1)
	txt(t, r, d, "long.test", "[v=DMARC1; p=none]", 2)
	d.Remove("short.test")
	d.Add(t, `short.test. 30 IN TXT "v=spf1 ip4:192.0.2.1 -all"`)
	clock.advance(29 * time.Second)
	txt(t, r, d, "SHORT.test", "[v=spf1 -all]", 2) // within its TTL, any case
	clock.advance(2 * time.Second)
	txt(t, r, d, "short.test", "[v=spf1 ip4:192.0.2.1 -all]", 3) // past it: asked again
	// A TTL of a day is kept for CacheTTL only.
	clock.advance(9 * time.Minute)
	txt(t, r, d, "long.test", "[v=DMARC1; p=none]", 3)
	clock.advance(time.Minute)
	txt(t, r, d, "long.test", "[v=DMARC1; p=none]", 4)
	// A CNAME on the way counts: its TTL (20 s) is the smaller one.
	d.Add(t, "alias.test. 20 IN CNAME long.test.")
	txt(t, r, d, "alias.test", "[v=DMARC1; p=none]", 5)
	clock.advance(21 * time.Second)
	txt(t, r, d, "alias.test", "[v=DMARC1; p=none]", 6)
}

// TestNegativeCache: "no such name" and "no such record" are kept as the
// SOA of the answer says (the test server's: TTL 60, MINIMUM 60), per RFC
// 2308; failures to get an answer are never kept.
func TestNegativeCache(t *testing.T) {
	d := mailtest.StartDNS(t)
	d.Add(t, "exists.test. 300 IN A 192.0.2.1")
	r, clock := newTestResolver(t, d)
	nx := "error: lookup nx.test on " + d.Addr + ": no such host"
	txt(t, r, d, "nx.test", nx, 1)
	nodata := "error: lookup exists.test on " + d.Addr + ": no such host"
	txt(t, r, d, "exists.test", nodata, 2)
	d.AddTXT("nx.test", "v=spf1 -all")
	d.AddTXT("exists.test", "v=spf1 -all")
	clock.advance(59 * time.Second)
	txt(t, r, d, "nx.test", nx, 2)
	txt(t, r, d, "exists.test", nodata, 2)
	clock.advance(2 * time.Second)
	txt(t, r, d, "nx.test", "[v=spf1 -all]", 3)
	txt(t, r, d, "exists.test", "[v=spf1 -all]", 4)

	d.ServFail("fail.test", true)
	_, err := r.LookupTXT(context.Background(), "fail.test")
	if de, ok := err.(*net.DNSError); !ok || !de.IsTemporary || de.IsNotFound {
		t.Fatalf("SERVFAIL gave %#v; want a temporary *net.DNSError, unwrapped", err)
	}
	n := d.Queries()
	d.ServFail("fail.test", false)
	d.AddTXT("fail.test", "ok")
	txt(t, r, d, "fail.test", "[ok]", n+1)
}

func TestNegativeTTL(t *testing.T) {
	soa := func(ttl, minimum uint32) *dns.Msg {
		m := new(dns.Msg)
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl}, Minttl: minimum}}
		return m
	}
	for _, c := range []struct {
		m    *dns.Msg
		want time.Duration
	}{
		{soa(3600, 300), 300 * time.Second},
		{soa(120, 900), 120 * time.Second},
		{new(dns.Msg), 0}, // no SOA: not kept (RFC 2308 §5)
	} {
		if got := negativeTTL(c.m); got != c.want {
			t.Errorf("negativeTTL(%v) = %v, want %v", c.m.Ns, got, c.want)
		}
	}
}

func TestCacheBounded(t *testing.T) {
	var c answerCache
	now := time.Now()
	for i := range maxCacheEntries {
		exp := now.Add(time.Hour)
		if i%2 == 0 {
			exp = now.Add(-time.Second) // expired: evicted first
		}
		c.put(fmt.Sprint(i), cacheEntry{exp: exp}, now)
	}
	c.put("fresh", cacheEntry{exp: now.Add(time.Hour)}, now)
	if n := c.len(); n != maxCacheEntries/2+1 {
		t.Fatalf("after the expired were evicted: %d entries, want %d", n, maxCacheEntries/2+1)
	}
	for i := range 2 * maxCacheEntries {
		c.put(fmt.Sprint("x", i), cacheEntry{exp: now.Add(time.Hour)}, now)
		if n := c.len(); n > maxCacheEntries {
			t.Fatalf("%d entries, want at most %d", n, maxCacheEntries)
		}
	}
	if _, ok := c.get("x19999", now); !ok {
		t.Fatal("the newest entry was evicted")
	}
}

// TestConcurrentLookupsShareQuery: 8 connections asking for one sender's
// SPF record at once cost one query.
func TestConcurrentLookupsShareQuery(t *testing.T) {
	d := mailtest.StartDNS(t)
	d.AddTXT("many.test", "v=spf1 -all")
	r, _ := newTestResolver(t, d)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := r.LookupTXT(context.Background(), "many.test"); err != nil || len(v) != 1 {
				t.Errorf("LookupTXT = %v, %v", v, err)
			}
		}()
	}
	wg.Wait()
	if n := d.Queries(); n != 1 {
		t.Fatalf("%d queries for 8 concurrent lookups, want 1", n)
	}
}

// TestTXTBytesAsNetResolver: TXT strings come back as the bytes sent
// (quotes, backslashes, non-ASCII, several strings joined), the same as
// net.Resolver gives.
func TestTXTBytesAsNetResolver(t *testing.T) {
	d := mailtest.StartDNS(t)
	d.Add(t, `odd.test. 60 IN TXT "a\"b\\c\010d" "\195\169t\195\169 ;x"`)
	d.AddTXT("long.test", string(make([]byte, 600)))
	r, _ := newTestResolver(t, d)
	for _, name := range []string{"odd.test", "long.test"} {
		got, err := r.LookupTXT(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := r.Resolver.LookupTXT(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("LookupTXT(%s) = %q, net.Resolver says %q", name, got, want)
		}
	}
}

// TestSharedLookupOutlivesFirstCaller: a session that gives up on a
// lookup (its context ends) does not fail it for another session waiting
// on the same name.
func TestSharedLookupOutlivesFirstCaller(t *testing.T) {
	d := mailtest.StartDNS(t)
	d.AddTXT("slow.test", "v=spf1 -all")
	d.Delay("slow.test", 500*time.Millisecond)
	r, _ := newTestResolver(t, d)
	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := r.LookupTXT(ctx, "slow.test")
		first <- err
	}()
	time.Sleep(20 * time.Millisecond)
	v, err := r.LookupTXT(context.Background(), "slow.test")
	if err != nil || len(v) != 1 {
		t.Fatalf("the second caller got %v, %v; want the record", v, err)
	}
	if err := <-first; err == nil || IsNotFound(err) {
		t.Fatalf("the caller that gave up got %v; want a temporary error", err)
	}
	if n := d.Queries(); n != 1 {
		t.Errorf("%d queries, want 1 shared", n)
	}
}
