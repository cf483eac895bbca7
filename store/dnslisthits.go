package store

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// DNS list hits per zone and day (UTC), for the admin panel's Spam tab:
// bucket "dnslisthits": zone NUL YYYY-MM-DD → connections the zone listed
// that day (u64 BE). Kept in the store so the counts survive a restart.
var bucketDNSListHits = []byte("dnslisthits")

func dnsListHitKey(zone string, t time.Time) []byte {
	return []byte(zone + "\x00" + t.UTC().Format(time.DateOnly))
}

// CountDNSListHit counts one connection a DNS list zone (block- or
// allowlist) listed, on today's count of that zone. The count is kept
// in memory and written with the others at most once a minute
// (tally.go): the error is always nil.
func (s *Store) CountDNSListHit(zone string) error {
	k := string(dnsListHitKey(zone, time.Now()))
	s.tally.mu.Lock()
	s.tally.hits[k]++
	s.tally.mu.Unlock()
	return nil
}

// addDNSListHitsTx adds n to the count under key k.
func addDNSListHitsTx(tx kv.Tx, k []byte, n uint64) error {
	b, err := tx.CreateBucketIfNotExists(bucketDNSListHits)
	if err != nil {
		return err
	}
	if v := b.Get(k); len(v) == 8 {
		n += binary.BigEndian.Uint64(v)
	}
	return b.Put(k, binary.BigEndian.AppendUint64(nil, n))
}

// DNSListHits returns the connections each zone listed over the last
// days (today included; 0 for every day kept), the counts not yet
// written included.
func (s *Store) DNSListHits(days int) (map[string]int64, error) {
	since := ""
	if days > 0 {
		since = time.Now().UTC().AddDate(0, 0, 1-days).Format(time.DateOnly)
	}
	out := map[string]int64{}
	add := func(k []byte, n int64) {
		zone, day, ok := bytes.Cut(k, []byte{0})
		if ok && string(day) >= since {
			out[string(zone)] += n
		}
	}
	s.tally.mu.Lock()
	defer s.tally.mu.Unlock()
	for k, n := range s.tally.hits {
		add([]byte(k), int64(n))
	}
	err := s.db.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketDNSListHits)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) == 8 {
				add(k, int64(binary.BigEndian.Uint64(v)))
			}
			return nil
		})
	})
	return out, err
}
