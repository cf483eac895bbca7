package store

import "github.com/authsmtp/authsmtp/store/kv"

// ClaimDay reports whether the caller may run job for day: on a database
// several nodes share, only the first node to claim a (job, day) gets
// true, so a job meant once a day for the whole cluster (the daily TLS
// and DMARC reports) runs on one node; the claim is one transaction in
// the limits bucket ("day/<job>" → the last day claimed). A process alone
// on its database always may.
func (s *Store) ClaimDay(job, day string) (bool, error) {
	if !s.Shared() {
		return true, nil
	}
	k := []byte("day/" + job)
	claimed := false
	err := s.Caps.shared.update(func(b kv.Bucket) error {
		claimed = false
		if v := b.Get(k); v != nil && string(v) >= day {
			return nil
		}
		claimed = true
		return b.Put(k, []byte(day))
	})
	return claimed, err
}
