package store

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

// Outbound TLS results for TLS reporting (RFC 8460), per recipient
// (policy) domain and UTC day: bucket "tlsrptout": YYYY-MM-DD NUL domain →
// TLSDay (JSON). The queue's results are added in batches (AddTLSResults);
// once a day's report is queued, or the domain publishes no _smtp._tls
// record, the day is deleted (DeleteTLSDay).
var bucketTLSRPTOut = []byte("tlsrptout")

// TLSResult is the outcome of one outbound TLS session (or of a policy
// that could not be fetched) as TLSRPT counts it.
type TLSResult struct {
	Domain string // the recipient (policy) domain
	// Policy: "sts", "tlsa" or "no-policy-found", its text (policy-string)
	// and the MX host patterns it names.
	PolicyType    string
	PolicyStrings []string
	PolicyMX      []string
	// Result is "" for a successful session, else a TLSRPT result type
	// (starttls-not-supported, certificate-host-mismatch, ...).
	Result      string
	MXHost      string
	SendingIP   string
	ReceivingIP string
	Count       int64 // sessions (1 when recorded one by one)
}

// TLSDay is one domain's results of one day, grouped by policy.
type TLSDay struct {
	Day      string // YYYY-MM-DD, UTC
	Domain   string
	Policies []TLSPolicyCount
}

// TLSPolicyCount counts the sessions under one policy.
type TLSPolicyCount struct {
	Type     string
	Strings  []string `json:",omitempty"`
	MX       []string `json:",omitempty"`
	Success  int64
	Failures []TLSFailureCount `json:",omitempty"`
}

// TLSFailureCount counts failed sessions of one kind to one MX address.
type TLSFailureCount struct {
	Result      string
	MXHost      string `json:",omitempty"`
	SendingIP   string `json:",omitempty"`
	ReceivingIP string `json:",omitempty"`
	Count       int64
}

// Failed is the total of failed sessions under the policy.
func (p TLSPolicyCount) Failed() int64 {
	var n int64
	for _, f := range p.Failures {
		n += f.Count
	}
	return n
}

func tlsDayKey(day, domain string) []byte { return []byte(day + "\x00" + domain) }

// AddTLSResults adds results of day (UTC) in one transaction.
func (s *Store) AddTLSResults(day time.Time, results []TLSResult) error {
	if len(results) == 0 {
		return nil
	}
	d := day.UTC().Format(time.DateOnly)
	return s.db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTLSRPTOut)
		if err != nil {
			return err
		}
		days := map[string]*TLSDay{}
		for _, r := range results {
			td := days[r.Domain]
			if td == nil {
				td = &TLSDay{Day: d, Domain: r.Domain}
				if v := b.Get(tlsDayKey(d, r.Domain)); v != nil {
					if err := json.Unmarshal(v, td); err != nil {
						return fmt.Errorf("reading TLS results of %s %s: %w", r.Domain, d, err)
					}
				}
				days[r.Domain] = td
			}
			td.add(r)
		}
		for dom, td := range days {
			v, err := json.Marshal(td)
			if err != nil {
				return err
			}
			if err := b.Put(tlsDayKey(d, dom), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func (d *TLSDay) add(r TLSResult) {
	n := r.Count
	if n == 0 {
		n = 1
	}
	var p *TLSPolicyCount
	for i := range d.Policies {
		q := &d.Policies[i]
		if q.Type == r.PolicyType && strings.Join(q.Strings, "\n") == strings.Join(r.PolicyStrings, "\n") && strings.Join(q.MX, "\n") == strings.Join(r.PolicyMX, "\n") {
			p = q
			break
		}
	}
	if p == nil {
		d.Policies = append(d.Policies, TLSPolicyCount{Type: r.PolicyType, Strings: r.PolicyStrings, MX: r.PolicyMX})
		p = &d.Policies[len(d.Policies)-1]
	}
	if r.Result == "" {
		p.Success += n
		return
	}
	for i := range p.Failures {
		f := &p.Failures[i]
		if f.Result == r.Result && f.MXHost == r.MXHost && f.SendingIP == r.SendingIP && f.ReceivingIP == r.ReceivingIP {
			f.Count += n
			return
		}
	}
	p.Failures = append(p.Failures, TLSFailureCount{Result: r.Result, MXHost: r.MXHost, SendingIP: r.SendingIP, ReceivingIP: r.ReceivingIP, Count: n})
}

// TLSDays lists the recorded days before the day of before (UTC), oldest
// first; a zero before lists every day.
func (s *Store) TLSDays(before time.Time) ([]TLSDay, error) {
	limit := ""
	if !before.IsZero() {
		limit = before.UTC().Format(time.DateOnly)
	}
	var out []TLSDay
	err := s.db.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketTLSRPTOut)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			day, _, _ := strings.Cut(string(k), "\x00")
			if limit != "" && day >= limit {
				return nil
			}
			var d TLSDay
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("reading TLS results %q: %w", k, err)
			}
			out = append(out, d)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Day < out[j].Day })
	return out, err
}

// DeleteTLSDay forgets one domain's results of one day (its report was
// queued, or nobody wants it).
func (s *Store) DeleteTLSDay(day, domain string) error {
	return s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketTLSRPTOut)
		if b == nil {
			return nil
		}
		return b.Delete(tlsDayKey(day, domain))
	})
}
