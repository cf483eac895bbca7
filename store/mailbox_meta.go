package store

import (
	"github.com/authsmtp/authsmtp/store/kv"
)

// bucketBodyMeta maps a body id to an opaque cached parse of the body
// (envelope, body structure, search hints) written by the IMAP layer, so
// FETCH ENVELOPE/BODYSTRUCTURE never re-parses bodies. It is created on
// first use and deleted with the body.
var bucketBodyMeta = []byte("bodymeta")

func putBodyMeta(tx kv.Tx, id uint64, meta []byte) error {
	b, err := tx.CreateBucketIfNotExists(bucketBodyMeta)
	if err != nil {
		return err
	}
	return b.Put(u64(id), meta)
}

// SetBodyMeta caches parses of bodies delivered without one (by SMTP).
// Bodies deleted in the meantime are skipped.
func (s *Store) SetBodyMeta(metas map[uint64][]byte) error {
	if len(metas) == 0 {
		return nil
	}
	return s.db.Update(func(tx kv.Tx) error {
		for id, m := range metas {
			if !hasBodyTx(tx, id) {
				continue
			}
			if err := putBodyMeta(tx, id, m); err != nil {
				return err
			}
		}
		return nil
	})
}

func bodyMetaTx(tx kv.Tx, id uint64) []byte {
	b := tx.Bucket(bucketBodyMeta)
	if b == nil {
		return nil
	}
	return b.Get(u64(id))
}
