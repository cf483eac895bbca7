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
func addSpamStatsTx(tx kv.Tx, domain string, now time.Time, received, junked, refused uint32) error {
	return addSpamStatsKeyTx(tx, spamStatsKey(domain, now), received, junked, refused)
}

// addSpamStatsKeyTx adds to the counters under key k (spamStatsKey).
func addSpamStatsKeyTx(tx kv.Tx, k []byte, received, junked, refused uint32) error {
	b, err := tx.CreateBucketIfNotExists(bucketSpamStats)
	if err != nil {
		return err
	}
	v := make([]byte, 12)
	copy(v, b.Get(k))
	for i, d := range []uint32{received, junked, refused} {
		binary.BigEndian.PutUint32(v[i*4:], binary.BigEndian.Uint32(v[i*4:])+d)
	}
	return b.Put(k, v)
}

// recordSpamStatsTx counts an MX delivery's local copies (inside Accept).
func recordSpamStatsTx(tx kv.Tx, in *Incoming, now time.Time) error {
	if in.Login != "" || in.DSN {
		return nil
	}
	for _, r := range in.Local {
		junked := uint32(0)
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
// hosted domain's recipient. The count is kept in memory and written
// with the others at most once a minute (tally.go): the error is always
// nil.
func (s *Store) CountRefused(domain string) error {
	k := string(spamStatsKey(domain, time.Now()))
	s.tally.mu.Lock()
	s.tally.refused[k]++
	s.tally.mu.Unlock()
	return nil
}

// SpamStats returns a domain's last days (today last), zero for days
// without mail; refusals not yet written are included.
func (s *Store) SpamStats(domain string, days int) ([]SpamDay, error) {
	now := time.Now().UTC()
	out := make([]SpamDay, days)
	s.tally.mu.Lock()
	defer s.tally.mu.Unlock()
	for i := range out {
		out[i].Refused = int(s.tally.refused[string(spamStatsKey(domain, now.AddDate(0, 0, i-days+1)))])
	}
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
				out[i].Refused += int(binary.BigEndian.Uint32(v[8:]))
			}
		}
		return nil
	})
	return out, err
}
