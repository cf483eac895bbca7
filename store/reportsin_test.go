package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/store/reports"
)

// TestReportsStored: a report is stored with its mail, a second copy is
// a duplicate, the summary covers the days asked for, and removing the
// domain removes its reports.
func TestReportsStored(t *testing.T) {
	st := openTestStore(t, t.TempDir())
	if _, err := st.AddDomain("example.com"); err != nil {
		t.Fatal(err)
	}
	xml, err := os.ReadFile("reports/testdata/google.xml")
	if err != nil {
		t.Fatal(err)
	}
	mail := mailtest.GoogleDMARCMail("dmarc-reports@example.com", "example.com", string(xml))
	f, err := reports.Extract(mail, "", reports.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	id, dup, err := st.AddReport("example.com", f, "noreply-dmarc-support@google.com", mail, now)
	if err != nil || dup || id == 0 {
		t.Fatalf("add: %d %v %v", id, dup, err)
	}
	if _, dup, err := st.AddReport("example.com", f, "x@y", mail, now); err != nil || !dup {
		t.Fatalf("second copy: dup %v err %v", dup, err)
	}
	if _, _, err := st.AddReport("other.test", f, "x@y", mail, now); !errors.Is(err, ErrNoSuchDomain) {
		t.Fatalf("unhosted domain: %v", err)
	}
	got, err := st.ReportMail("example.com", id)
	if err != nil || string(got) != string(mail) {
		t.Fatalf("mail back: %v", err)
	}
	sum, err := st.SummarizeReports("example.com", 7, now)
	if err != nil || len(sum.List) != 1 || sum.DMARC.Messages != 19 || !sum.DMARC.Rows[0].Attention {
		t.Fatalf("summary: %v %+v", err, sum)
	}
	if old, _ := st.SummarizeReports("example.com", 7, now.AddDate(0, 1, 0)); len(old.List) != 0 {
		t.Fatalf("a month later the 7-day summary has %d reports", len(old.List))
	}
	if err := st.RemoveDomain("example.com"); err != nil {
		t.Fatal(err)
	}
	st.AddDomain("example.com")
	if rs, err := st.Reports("example.com", time.Time{}); err != nil || len(rs) != 0 {
		t.Fatalf("after removal: %d reports, %v", len(rs), err)
	}
	if _, err := st.ReportMail("example.com", id); err == nil {
		t.Fatal("the mail survived the domain")
	}
}

// TestReportsPruned: reports whose period ended more than
// ReportRetention ago go (with their mail and duplicate marker) when a
// new report comes in; recent ones stay.
func TestReportsPruned(t *testing.T) {
	st := openTestStore(t, t.TempDir())
	st.AddDomain("example.com")
	now := time.Now()
	add := func(file string, day time.Time, at time.Time) uint64 {
		t.Helper()
		mail := mailtest.GoogleDMARCMail("dmarc-reports@example.com", "example.com", mailtest.ReportSample(t, file, "example.com", day))
		f, err := reports.Extract(mail, "", reports.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		id, dup, err := st.AddReport("example.com", f, "r@x", mail, at)
		if err != nil || dup {
			t.Fatalf("add %s: %v %v", file, dup, err)
		}
		return id
	}
	oldID := add("google.xml", now.Add(-ReportRetention-48*time.Hour), now.Add(-ReportRetention))
	add("yahoo.xml", now.AddDate(0, 0, -2), now) // a day after the last pruning: prunes the first
	st.reportsPruned.Store(0)
	add("microsoft.xml", now.AddDate(0, 0, -1), now)
	rs, _ := st.Reports("example.com", time.Time{})
	if len(rs) != 2 {
		t.Fatalf("%d reports kept, want 2", len(rs))
	}
	if _, err := st.ReportMail("example.com", oldID); err == nil {
		t.Fatal("the old report's mail was kept")
	}
	// Its duplicate marker went too: the same report is taken again.
	add("google.xml", now.Add(-ReportRetention-48*time.Hour), now)
}

// TestReportCap: past a domain's daily cap (count or bytes) a new report
// is refused with ErrReportCap and the older ones stay; a duplicate is
// still a duplicate, another domain and the next day have their own cap.
func TestReportCap(t *testing.T) {
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	report := func(t *testing.T, domain string, n int) (*reports.Found, []byte) {
		t.Helper()
		xml := strings.Replace(mailtest.ReportSample(t, "google.xml", domain, now.AddDate(0, 0, -1)),
			"<report_id>11827036918837360451</report_id>", fmt.Sprintf("<report_id>flood-%d</report_id>", n), 1)
		mail := mailtest.GoogleDMARCMail("dmarc-reports@"+domain, domain, xml)
		f, err := reports.Extract(mail, "", reports.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return f, mail
	}
	t.Run("count", func(t *testing.T) {
		st, err := Open(t.TempDir(), Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ReportCap: ReportCap{Reports: 3}})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		st.AddDomain("example.com")
		st.AddDomain("other.test")
		for i := range 3 {
			f, mail := report(t, "example.com", i)
			if _, dup, err := st.AddReport("example.com", f, "r@x", mail, now); err != nil || dup {
				t.Fatalf("report %d: %v %v", i, dup, err)
			}
		}
		f, mail := report(t, "example.com", 3)
		if _, _, err := st.AddReport("example.com", f, "r@x", mail, now); !errors.Is(err, ErrReportCap) {
			t.Fatalf("the fourth report of the day: %v, want ErrReportCap", err)
		}
		if rs, _ := st.Reports("example.com", time.Time{}); len(rs) != 3 {
			t.Fatalf("%d reports kept, want the first 3", len(rs))
		}
		if f, mail := report(t, "example.com", 0); true {
			if _, dup, err := st.AddReport("example.com", f, "r@x", mail, now); err != nil || !dup {
				t.Fatalf("a duplicate past the cap: %v %v", dup, err)
			}
		}
		if f, mail := report(t, "other.test", 3); true {
			if _, _, err := st.AddReport("other.test", f, "r@x", mail, now); err != nil {
				t.Fatalf("another domain: %v", err)
			}
		}
		if _, _, err := st.AddReport("example.com", f, "r@x", mail, now.Add(24*time.Hour)); err != nil {
			t.Fatalf("the next day: %v", err)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		f, mail := report(t, "example.com", 0)
		st, err := Open(t.TempDir(), Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ReportCap: ReportCap{Bytes: 5 * len(mail)}})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		st.AddDomain("example.com")
		if _, _, err := st.AddReport("example.com", f, "r@x", mail, now); err != nil {
			t.Fatal(err)
		}
		stored := 1
		for i := 1; i < 10; i++ {
			f, mail := report(t, "example.com", i)
			_, _, err := st.AddReport("example.com", f, "r@x", mail, now)
			if errors.Is(err, ErrReportCap) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			stored++
		}
		if stored < 2 || stored > 4 {
			t.Fatalf("%d reports of %d bytes each stored under a cap of %d bytes", stored, len(mail), 5*len(mail))
		}
	})
}
