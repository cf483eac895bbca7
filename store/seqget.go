package store

import (
	"bytes"

	"github.com/authsmtp/authsmtp/store/kv"
)

// seqGetter reads keys of one bucket in mostly ascending order with one
// cursor: the next key is usually the cursor's next entry, so most reads
// cost a Next instead of a search from the root (and the cursor's stack
// is not allocated again for each key). It returns what Bucket.Get would.
type seqGetter struct {
	c    kv.Cursor
	k, v []byte
}

func newSeqGetter(b kv.Bucket) *seqGetter { return &seqGetter{c: b.Cursor()} }

func (g *seqGetter) get(key []byte) []byte {
	if g.k != nil {
		switch bytes.Compare(g.k, key) {
		case 0:
			return g.v
		case -1:
			g.k, g.v = g.c.Next()
			if g.k == nil {
				return nil // nothing after the previous key: key is absent
			}
			switch bytes.Compare(g.k, key) {
			case 0:
				return g.v
			case 1:
				return nil // previous key < key < next key
			}
		}
	}
	g.k, g.v = g.c.Seek(key)
	if g.k != nil && bytes.Equal(g.k, key) {
		return g.v
	}
	return nil
}
