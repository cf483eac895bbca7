package dnsx

import (
	"context"
	"net"
	"sync"
	"time"
)

// A small answer cache: SPF, DMARC and DKIM ask the same few names for
// every message from a sender, and delivery asks the same MX for every
// message to a domain. net.Resolver hides record TTLs, so answers
// (including "no such name") are kept for a fixed CacheTTL, shorter than
// the TTLs mail domains use. Temporary failures are never cached.

const maxCacheEntries = 10000

type cacheEntry struct {
	val any
	err error
	exp time.Time
}

type answerCache struct {
	mu sync.Mutex
	m  map[string]cacheEntry
}

func (c *answerCache) get(key string) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || time.Now().After(e.exp) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *answerCache) put(key string, val any, err error, ttl time.Duration) {
	if ttl <= 0 || (err != nil && !IsNotFound(err)) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCacheEntries {
		c.m = map[string]cacheEntry{}
	}
	c.m[key] = cacheEntry{val: val, err: err, exp: time.Now().Add(ttl)}
}

// LookupTXT is net.Resolver's, cached.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if e, ok := r.cache.get("TXT " + name); ok {
		v, _ := e.val.([]string)
		return v, e.err
	}
	v, err := r.Resolver.LookupTXT(ctx, name)
	r.cache.put("TXT "+name, v, err, r.CacheTTL)
	return v, err
}

// LookupMX is net.Resolver's, cached.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if e, ok := r.cache.get("MX " + name); ok {
		v, _ := e.val.([]*net.MX)
		return v, e.err
	}
	v, err := r.Resolver.LookupMX(ctx, name)
	r.cache.put("MX "+name, v, err, r.CacheTTL)
	return v, err
}

// LookupIPAddr is net.Resolver's, cached.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if e, ok := r.cache.get("IP " + host); ok {
		v, _ := e.val.([]net.IPAddr)
		return v, e.err
	}
	v, err := r.Resolver.LookupIPAddr(ctx, host)
	r.cache.put("IP "+host, v, err, r.CacheTTL)
	return v, err
}
