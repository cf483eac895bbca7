package reports

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// SourceRow is what the reports say about one sending source on one day:
// the messages it sent as the domain and how they fared.
type SourceRow struct {
	Day        string `json:"day"` // YYYY-MM-DD (UTC) the reported period begins
	IP         string `json:"ip"`
	Name       string `json:"name,omitempty"` // reverse DNS name, filled in by the caller
	HeaderFrom string `json:"header_from"`
	Count      int64  `json:"count"`
	// SPF and DKIM are the raw results with their domains ("pass
	// example.com"); the Aligned fields are DMARC's verdicts.
	SPF         string   `json:"spf"`
	DKIM        string   `json:"dkim"`
	SPFAligned  bool     `json:"spf_aligned"`
	DKIMAligned bool     `json:"dkim_aligned"`
	Disposition string   `json:"disposition"`
	Reporters   []string `json:"reporters"`
	// Attention: neither SPF nor DKIM aligned — someone spoofing the
	// domain, or a service sending for it that was never set up.
	Attention bool `json:"attention"`
}

// DMARCSummary sums up DMARC reports per day and source.
type DMARCSummary struct {
	Reports  int         `json:"reports"`
	Messages int64       `json:"messages"`
	Passing  int64       `json:"passing"` // aligned by SPF or DKIM
	Failing  int64       `json:"failing"`
	Rows     []SourceRow `json:"rows"`
}

// SummarizeDMARC groups the records of reports by day, source IP, From
// domain and outcome; the rows that need attention come first, then the
// newest days, then the biggest senders.
func SummarizeDMARC(fs []*Feedback) DMARCSummary {
	var s DMARCSummary
	idx := map[string]int{}
	for _, f := range fs {
		s.Reports++
		day := f.Begin().Format("2006-01-02")
		for _, rec := range f.Records {
			pe := rec.Row.PolicyEvaluated
			row := SourceRow{Day: day, IP: rec.Row.SourceIP, HeaderFrom: rec.Identifiers.HeaderFrom,
				SPF: spfText(rec.AuthResults.SPF), DKIM: dkimText(rec.AuthResults.DKIM),
				SPFAligned: pe.SPF == "pass", DKIMAligned: pe.DKIM == "pass", Disposition: pe.Disposition}
			row.Attention = !row.SPFAligned && !row.DKIMAligned
			key := fmt.Sprintf("%s|%s|%s|%s|%s|%t|%t|%s", row.Day, row.IP, row.HeaderFrom, row.SPF, row.DKIM, row.SPFAligned, row.DKIMAligned, row.Disposition)
			i, ok := idx[key]
			if !ok {
				i = len(s.Rows)
				idx[key] = i
				s.Rows = append(s.Rows, row)
			}
			r := &s.Rows[i]
			r.Count += rec.Row.Count
			if !contains(r.Reporters, f.Metadata.OrgName) {
				r.Reporters = append(r.Reporters, f.Metadata.OrgName)
			}
			s.Messages += rec.Row.Count
			if row.Attention {
				s.Failing += rec.Row.Count
			} else {
				s.Passing += rec.Row.Count
			}
		}
	}
	sort.SliceStable(s.Rows, func(i, j int) bool {
		a, b := s.Rows[i], s.Rows[j]
		if a.Attention != b.Attention {
			return a.Attention
		}
		if a.Day != b.Day {
			return a.Day > b.Day
		}
		return a.Count > b.Count
	})
	return s
}

func spfText(rs []SPFAuthResult) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, strings.TrimSpace(r.Result+" "+r.Domain))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func dkimText(rs []DKIMAuthResult) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, strings.TrimSpace(r.Result+" "+r.Domain))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TLSRow is one TLS report's result for one policy.
type TLSRow struct {
	Day          string         `json:"day"`
	Org          string         `json:"org"`
	PolicyType   string         `json:"policy_type"`
	PolicyDomain string         `json:"policy_domain"`
	Mode         string         `json:"mode,omitempty"` // of an STS policy
	Successful   int64          `json:"successful"`
	Failed       int64          `json:"failed"`
	Failures     []FailureCount `json:"failures,omitempty"`
}

// FailureCount is how many sessions failed one way.
type FailureCount struct {
	Type  string `json:"type"`
	Count int64  `json:"count"`
}

// SummarizeTLS lists each report's policies, newest day first, the
// ones with failures first within a day.
func SummarizeTLS(rs []*TLSReport) []TLSRow {
	var rows []TLSRow
	for _, r := range rs {
		for _, p := range r.Policies {
			row := TLSRow{Day: r.DateRange.Start.UTC().Format("2006-01-02"), Org: r.OrganizationName,
				PolicyType: p.Policy.Type, PolicyDomain: p.Policy.Domain,
				Successful: p.Summary.Successful, Failed: p.Summary.Failed}
			for _, line := range p.Policy.String {
				if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "mode" {
					row.Mode = strings.TrimSpace(v)
				}
			}
			byType := map[string]int64{}
			var order []string
			for _, d := range p.FailureDetails {
				if _, ok := byType[d.ResultType]; !ok {
					order = append(order, d.ResultType)
				}
				byType[d.ResultType] += d.FailedSessions
			}
			for _, t := range order {
				row.Failures = append(row.Failures, FailureCount{Type: t, Count: byType[t]})
			}
			rows = append(rows, row)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Day != rows[j].Day {
			return rows[i].Day > rows[j].Day
		}
		return rows[i].Failed > rows[j].Failed
	})
	return rows
}

// FillNames sets the Name of each row from a reverse DNS lookup of its
// IP, at most max distinct addresses, a few at a time, within ctx; a
// failed lookup leaves the name empty.
func FillNames(ctx context.Context, rows []SourceRow, lookup func(ctx context.Context, ip string) ([]string, error), max int) {
	names := map[string]string{}
	var ips []string
	for _, r := range rows {
		if _, ok := names[r.IP]; !ok && len(ips) < max {
			names[r.IP] = ""
			ips = append(ips, r.IP)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, ip := range ips {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if got, err := lookup(ctx, ip); err == nil && len(got) > 0 {
				mu.Lock()
				names[ip] = strings.TrimSuffix(got[0], ".")
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i := range rows {
		rows[i].Name = names[rows[i].IP]
	}
}
