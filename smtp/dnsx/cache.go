package dnsx

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// The answer cache: SPF, DKIM and DMARC ask the same few names for every
// message from a sender, and delivery asks the same MX for every message
// to a domain.
//
//   - TXT and MX answers are asked for by this package (query.go), so they
//     are kept as long as their TTL says (RFC 1035 §3.2.1), at most
//     CacheTTL.
//   - "No such name" and "no such record" are kept as long as the SOA in
//     the answer's authority section allows, the smaller of its TTL and its
//     MINIMUM field (RFC 2308 §5), also at most CacheTTL; a negative answer
//     without an SOA is not kept.
//   - Address lookups go through net.Resolver (it reads /etc/hosts), which
//     hides TTLs: they are kept for addrTTL at most, shorter than almost
//     every address record's TTL.
//   - Failures to get an answer (timeouts, SERVFAIL) are never kept.
//
// Concurrent lookups of one name share one query. The cache holds at most
// maxCacheEntries answers: when full, expired ones go first, then an
// arbitrary eighth (a burst of one-off names cannot grow it without bound).

const (
	maxCacheEntries = 10000
	addrTTL         = time.Minute
)

type cacheEntry struct {
	val any
	err error
	exp time.Time
}

type answerCache struct {
	mu     sync.Mutex
	m      map[string]cacheEntry
	flight singleflight.Group
}

func (c *answerCache) get(key string, now time.Time) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.exp) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *answerCache) put(key string, e cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cacheEntry{}
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= maxCacheEntries {
		c.evict(now)
	}
	c.m[key] = e
}

// evict drops the expired entries, and if that frees too little, an
// arbitrary eighth of the rest (map order is random). Called with mu held.
func (c *answerCache) evict(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.exp) {
			delete(c.m, k)
		}
	}
	drop := len(c.m) - maxCacheEntries*7/8
	for k := range c.m {
		if drop <= 0 {
			break
		}
		delete(c.m, k)
		drop--
	}
}

func (c *answerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// cached answers key from the cache, or runs fetch (once for all callers
// asking at the same time) and keeps its answer for the TTL it returns,
// at most CacheTTL. A temporary failure is never kept. The shared query
// runs on its own context (bounded by Timeout), not the first caller's:
// a session that gives up (RSET, a closed connection) must not fail the
// lookup for another session waiting on the same name; each caller stops
// waiting when its own context ends.
func (r *Resolver) cached(ctx context.Context, key, name string, fetch func(context.Context) (any, time.Duration, error)) (any, error) {
	if r.CacheTTL <= 0 {
		v, _, err := fetch(ctx)
		return v, err
	}
	if e, ok := r.cache.get(key, r.clock()); ok {
		return e.val, e.err
	}
	ch := r.cache.flight.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.Timeout)
		defer cancel()
		v, ttl, err := fetch(fctx)
		if ttl = min(ttl, r.CacheTTL); ttl > 0 && (err == nil || IsNotFound(err)) {
			now := r.clock()
			r.cache.put(key, cacheEntry{val: v, err: err, exp: now.Add(ttl)}, now)
		}
		return v, err
	})
	select {
	case res := <-ch:
		return res.Val, res.Err
	case <-ctx.Done():
		return nil, &net.DNSError{Err: ctx.Err().Error(), Name: name, IsTimeout: errors.Is(ctx.Err(), context.DeadlineExceeded), IsTemporary: true}
	}
}

func (r *Resolver) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// LookupTXT returns the TXT records of name, the strings of each record
// joined as net.Resolver does, cached for their TTL.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := r.cached(ctx, "TXT "+strings.ToLower(name), name, func(ctx context.Context) (any, time.Duration, error) {
		return r.queryTXT(ctx, name)
	})
	txt, _ := v.([]string)
	return txt, err
}

// LookupMX returns the MX records of name by preference (equal ones
// shuffled, as net.Resolver does), cached for their TTL.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := r.cached(ctx, "MX "+strings.ToLower(name), name, func(ctx context.Context) (any, time.Duration, error) {
		return r.queryMX(ctx, name)
	})
	mxs, _ := v.([]*net.MX)
	return shuffledMX(mxs), err
}

// LookupIPAddr is net.Resolver's, cached for addrTTL at most.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	v, err := r.cached(ctx, "IP "+strings.ToLower(host), host, func(ctx context.Context) (any, time.Duration, error) {
		v, err := r.Resolver.LookupIPAddr(ctx, host)
		return v, addrTTL, err
	})
	ips, _ := v.([]net.IPAddr)
	return ips, err
}
