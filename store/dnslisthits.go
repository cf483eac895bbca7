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
// allowlist) listed, on today's count of that zone.
func (s *Store) CountDNSListHit(zone string) error {
	k := dnsListHitKey(zone, time.Now())
	return s.db.Batch(func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDNSListHits)
		if err != nil {
			return err
		}
		var n uint64
		if v := b.Get(k); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		return b.Put(k, binary.BigEndian.AppendUint64(nil, n+1))
	})
}

// DNSListHits returns the connections each zone listed over the last
// days (today included; 0 for every day kept).
func (s *Store) DNSListHits(days int) (map[string]int64, error) {
	since := ""
	if days > 0 {
		since = time.Now().UTC().AddDate(0, 0, 1-days).Format(time.DateOnly)
	}
	out := map[string]int64{}
	err := s.db.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketDNSListHits)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			zone, day, ok := bytes.Cut(k, []byte{0})
			if ok && len(v) == 8 && string(day) >= since {
				out[string(zone)] += int64(binary.BigEndian.Uint64(v))
			}
			return nil
		})
	})
	return out, err
}
