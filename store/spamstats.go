package store

import (
	"encoding/binary"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Spam statistics per hosted domain and day (UTC), for the admin panel:
// bucket "spamstats": domain NUL YYYY-MM-DD → received, junked, refused
// (u32 BE each). Received and junked count local deliveries from the MX
// (one per recipient); refused counts connections a DNS blocklist
// refused at RCPT.
var bucketSpamStats = []byte("spamstats")

// SpamDay is one day of one domain's inbound mail.
type SpamDay struct {
	Day                       string // YYYY-MM-DD, UTC
	Received, Junked, Refused int
}

func spamStatsKey(domain string, t time.Time) []byte {
	return []byte(domain + "\x00" + t.UTC().Format(time.DateOnly))
}

// addSpamStatsTx adds to one domain's counters of the day of now.
func addSpamStatsTx(tx kv.Tx, domain string, now time.Time, received, junked, refused int) error {
	b, err := tx.CreateBucketIfNotExists(bucketSpamStats)
	if err != nil {
		return err
	}
	k := spamStatsKey(domain, now)
	v := make([]byte, 12)
	copy(v, b.Get(k))
	for i, d := range []int{received, junked, refused} {
		binary.BigEndian.PutUint32(v[i*4:], binary.BigEndian.Uint32(v[i*4:])+uint32(d))
	}
	return b.Put(k, v)
}

// recordSpamStatsTx counts an MX delivery's local copies (inside Accept).
func recordSpamStatsTx(tx kv.Tx, in *Incoming, now time.Time) error {
	if in.Login != "" || in.DSN {
		return nil
	}
	for _, r := range in.Local {
		junked := 0
		if r.Mailbox == "Junk" {
			junked = 1
		}
		if err := addSpamStatsTx(tx, DomainOf(r.Address), now, 1, junked, 0); err != nil {
			return err
		}
	}
	return nil
}

// CountRefused counts a connection refused by a DNS blocklist for a
// hosted domain's recipient.
func (s *Store) CountRefused(domain string) error {
	now := time.Now()
	return s.db.Batch(func(tx kv.Tx) error { return addSpamStatsTx(tx, domain, now, 0, 0, 1) })
}

// SpamStats returns a domain's last days (today last), zero for days
// without mail.
func (s *Store) SpamStats(domain string, days int) ([]SpamDay, error) {
	now := time.Now().UTC()
	out := make([]SpamDay, days)
	err := s.db.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketSpamStats)
		for i := range out {
			t := now.AddDate(0, 0, i-days+1)
			out[i].Day = t.Format(time.DateOnly)
			if b == nil {
				continue
			}
			if v := b.Get(spamStatsKey(domain, t)); len(v) == 12 {
				out[i].Received = int(binary.BigEndian.Uint32(v))
				out[i].Junked = int(binary.BigEndian.Uint32(v[4:]))
				out[i].Refused = int(binary.BigEndian.Uint32(v[8:]))
			}
		}
		return nil
	})
	return out, err
}
