package store

import (
	"encoding/json"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// PruneSessions deletes web sessions that expired before now (browsers
// that never signed out) and returns how many. The web UI calls it at
// each sign-in, so the bucket stays as small as the live sessions.
func (s *Store) PruneSessions(now time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketSessions)
		var dead [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var sess Session
			if json.Unmarshal(v, &sess) != nil || now.After(sess.Expires) {
				dead = append(dead, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range dead {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(dead)
		return nil
	})
	return n, err
}
