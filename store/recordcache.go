package store

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Decoded domain and user records, kept across transactions: routing, the
// quota and the send caps read a domain and a user record for every
// message, and decoding their JSON each time was ~5 % of submission.
//
// An entry remembers the stored bytes it was decoded from and is used only
// while the bucket still holds exactly those bytes, so it cannot go stale:
// any change, through whichever code path, transaction or restore, shows
// as different bytes. (The revocation generations of revoke.go bump only on
// credential changes, not on every record change, so they would not do.)
// Comparing a few hundred bytes is far cheaper than decoding them.
type recordCache struct {
	mu sync.RWMutex
	m  map[recordKey]cachedRecord
}

type recordKey struct {
	kind uint8 // recordDomain or recordUser
	key  string
}

const (
	recordDomain uint8 = iota
	recordUser
)

type cachedRecord struct {
	raw []byte // the stored bytes v was decoded from
	v   any    // Domain or User, a value (neither holds slices or maps)
}

// maxCachedRecords bounds the cache; past it, it starts over empty.
const maxCachedRecords = 1 << 16

func newRecordCache() *recordCache { return &recordCache{m: map[recordKey]cachedRecord{}} }

// getRecord is getJSON for the domains and users buckets, through the cache.
func getRecord[T Domain | User](c *recordCache, b kv.Bucket, key string, v *T) bool {
	raw := b.Get([]byte(key))
	if raw == nil {
		return false
	}
	k := recordKey{recordUser, key}
	if _, ok := any(v).(*Domain); ok {
		k.kind = recordDomain
	}
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if ok && bytes.Equal(e.raw, raw) {
		*v = e.v.(T)
		return true
	}
	var dec T
	if json.Unmarshal(raw, &dec) != nil {
		return false
	}
	*v = dec
	c.mu.Lock()
	if len(c.m) >= maxCachedRecords {
		clear(c.m)
	}
	c.m[k] = cachedRecord{raw: bytes.Clone(raw), v: dec}
	c.mu.Unlock()
	return true
}
