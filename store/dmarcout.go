package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"

	"github.com/authsmtp/authsmtp/store/reports"
)

// DMARC evaluations of inbound mail, kept for the aggregate reports we
// send (RFC 7489 §7.2) to domains that publish rua=: bucket "dmarcout":
//
//	YYYY-MM-DD NUL policy domain NUL seq (8 bytes BE) → DMARCEval (JSON)
//
// one key per evaluated message (added with db.Batch: no read of the
// day's other rows). Once a day's report for a domain is queued, or
// nobody takes it, its keys are deleted (DeleteDMARCDay).
var bucketDMARCOut = []byte("dmarcout")

// DMARCEval is the DMARC evaluation of one inbound message.
type DMARCEval struct {
	// PolicyDomain is the domain whose record was applied (the From:
	// domain, or its organizational domain); Policy is that record and
	// RUA its aggregate report addresses.
	PolicyDomain string                  `json:"policy_domain"`
	Policy       reports.PolicyPublished `json:"policy"`
	RUA          []string                `json:"rua"`
	SourceIP     string                  `json:"source_ip"`
	HeaderFrom   string                  `json:"header_from"`
	EnvelopeFrom string                  `json:"envelope_from,omitempty"`
	EnvelopeTo   string                  `json:"envelope_to,omitempty"`
	// Disposition is what we did: none, quarantine or reject.
	Disposition string                   `json:"disposition"`
	DKIMAligned bool                     `json:"dkim_aligned"`
	SPFAligned  bool                     `json:"spf_aligned"`
	DKIM        []reports.DKIMAuthResult `json:"dkim,omitempty"`
	SPF         reports.SPFAuthResult    `json:"spf"`
}

// DMARCDay is one policy domain's evaluations of one UTC day.
type DMARCDay struct {
	Day    string // YYYY-MM-DD
	Domain string
	Evals  []DMARCEval
}

func dmarcDayPrefix(day, domain string) []byte { return []byte(day + "\x00" + domain + "\x00") }

// AddDMARCEval records one evaluation made at t. It shares commits with
// concurrent callers (db.Batch).
func (s *Store) AddDMARCEval(t time.Time, ev DMARCEval) error {
	ev.PolicyDomain = strings.ToLower(ev.PolicyDomain)
	if ev.PolicyDomain == "" || strings.ContainsRune(ev.PolicyDomain, 0) {
		return fmt.Errorf("a DMARC evaluation without a policy domain")
	}
	v, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	prefix := dmarcDayPrefix(t.UTC().Format(time.DateOnly), ev.PolicyDomain)
	return s.db.Batch(func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDMARCOut)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(append(prefix[:len(prefix):len(prefix)], u64(seq)...), v)
	})
}

// DMARCDays lists the recorded days before the day of before (UTC),
// oldest first, each policy domain's evaluations together.
func (s *Store) DMARCDays(before time.Time) ([]DMARCDay, error) {
	limit := before.UTC().Format(time.DateOnly)
	var out []DMARCDay
	err := s.db.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketDMARCOut)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			parts := bytes.SplitN(k, []byte{0}, 3)
			if len(parts) != 3 || string(parts[0]) >= limit {
				return nil
			}
			var ev DMARCEval
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("reading DMARC evaluation %q: %w", k, err)
			}
			day, dom := string(parts[0]), string(parts[1])
			if n := len(out); n == 0 || out[n-1].Day != day || out[n-1].Domain != dom {
				out = append(out, DMARCDay{Day: day, Domain: dom})
			}
			out[len(out)-1].Evals = append(out[len(out)-1].Evals, ev)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Day < out[j].Day })
	return out, err
}

// DeleteDMARCDay forgets one policy domain's evaluations of one day.
func (s *Store) DeleteDMARCDay(day, domain string) error {
	prefix := dmarcDayPrefix(day, domain)
	return s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketDMARCOut)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var keys [][]byte
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
