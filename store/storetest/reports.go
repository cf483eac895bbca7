package storetest

import (
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// testReportsIn: a received report is stored with its mail, a second copy
// is a duplicate, the summary sums its rows, and the domain's removal
// takes its reports.
func testReportsIn(t *testing.T, b Backend) {
	if _, err := b.AddDomain(domain); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	f := &reports.Found{Kind: reports.KindDMARC, Name: "r.xml", DMARC: &reports.Feedback{
		Metadata: reports.ReportMetadata{OrgName: "reporter.test", ReportID: "r1",
			DateRange: reports.DateRange{Begin: now.Add(-24 * time.Hour).Unix(), End: now.Unix()}},
		Policy: reports.PolicyPublished{Domain: domain, P: "none"},
		Records: []reports.Record{{Row: reports.Row{SourceIP: "192.0.2.1", Count: 4,
			PolicyEvaluated: reports.PolicyEvaluated{Disposition: "none", DKIM: "fail", SPF: "fail"}},
			Identifiers: reports.Identifiers{HeaderFrom: domain}}},
	}}
	mail := []byte("Subject: report\r\n\r\nx\r\n")
	id, dup, err := b.AddReport(domain, f, "r@reporter.test", mail, now)
	if err != nil || dup {
		t.Fatalf("AddReport: %v %v", dup, err)
	}
	if _, dup, err := b.AddReport(domain, f, "r@reporter.test", mail, now); err != nil || !dup {
		t.Fatalf("the same report again: dup %v, %v", dup, err)
	}
	if got, err := b.ReportMail(domain, id); err != nil || string(got) != string(mail) {
		t.Fatalf("ReportMail: %q %v", got, err)
	}
	sum, err := b.SummarizeReports(domain, 7, now)
	if err != nil || len(sum.List) != 1 || sum.DMARC.Failing != 4 || !sum.DMARC.Rows[0].Attention {
		t.Fatalf("SummarizeReports: %+v %v", sum, err)
	}
	if err := b.RemoveDomain(domain); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddDomain(domain); err != nil {
		t.Fatal(err)
	}
	if rs, err := b.Reports(domain, time.Time{}); err != nil || len(rs) != 0 {
		t.Fatalf("reports after the domain's removal: %d %v", len(rs), err)
	}
}

// testDMARCEvals: evaluations for the DMARC reports we send group per
// day and policy domain; a deleted day is gone.
func testDMARCEvals(t *testing.T, b Backend) {
	day := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ev := store.DMARCEval{PolicyDomain: "remote.test", SourceIP: "192.0.2.1", HeaderFrom: "remote.test", Disposition: "none"}
	for _, at := range []time.Time{day, day, day.Add(24 * time.Hour)} {
		if err := b.AddDMARCEval(at, ev); err != nil {
			t.Fatal(err)
		}
	}
	days, err := b.DMARCDays(day.Add(24 * time.Hour))
	if err != nil || len(days) != 1 || len(days[0].Evals) != 2 || days[0].Day != "2026-11-26" {
		t.Fatalf("DMARCDays: %+v %v", days, err)
	}
	if err := b.DeleteDMARCDay("2026-11-26", "remote.test"); err != nil {
		t.Fatal(err)
	}
	if days, _ := b.DMARCDays(day.Add(48 * time.Hour)); len(days) != 1 || days[0].Day != "2026-11-27" {
		t.Fatalf("after the delete: %+v", days)
	}
}
