package mx

import (
	"crypto/sha256"

	"github.com/authsmtp/authsmtp/store"
)

// Exact-duplicate suppression. A sending MTA that crashes after our 250
// but before it recorded the delivery sends the same message again (RFC
// 5321 §6.1 accepts that risk). When the same sender sends the very same
// bytes to the same recipients within store.DedupWindow, we answer 250
// again without storing a second copy, so a retry after a crash arrives
// once. Only identical messages match (the key hashes the whole data), so
// nothing a third party sends can suppress someone else's mail. The key
// is committed in the same transaction as the message's copies (and
// survives a restart), so a failure can never leave copies stored without
// it.

// dedupKeyOf hashes the envelope and the data as received.
func dedupKeyOf(from string, rcpts []store.Recipient, msg []byte) []byte {
	h := sha256.New()
	h.Write([]byte(from))
	for _, r := range rcpts {
		h.Write([]byte{0})
		h.Write([]byte(r.Address))
	}
	h.Write([]byte{0, 0})
	h.Write(msg)
	return h.Sum(nil)
}
