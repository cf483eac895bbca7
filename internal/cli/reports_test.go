package cli

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// TestDomainReportsCommand: `domain reports` on the file prints the
// spoofing source first with its reverse name (through --dns), the TLS
// failures, and the same in --json; --days leaves out older reports.
func TestDomainReportsCommand(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	st.AddDomain("rep.test")
	now := time.Now()
	for _, m := range []struct{ file, kind string }{{"google.xml", "dmarc"}, {"microsoft-tlsrpt.json", "tls"}} {
		b, err := os.ReadFile("../../store/reports/testdata/" + m.file)
		if err != nil {
			t.Fatal(err)
		}
		// Move the report into the last days.
		s := strings.ReplaceAll(string(b), "example.com", "rep.test")
		day := now.UTC().AddDate(0, 0, -1).Truncate(24 * time.Hour)
		s = strings.ReplaceAll(strings.ReplaceAll(s, "1795651200", itoa(day.Unix())), "1795737599", itoa(day.Unix()+86399))
		s = strings.ReplaceAll(s, "2026-11-27", day.Format("2006-01-02"))
		var mail []byte
		if m.kind == "dmarc" {
			mail = mailtest.GoogleDMARCMail("dmarc-reports@rep.test", "rep.test", s)
		} else {
			mail = mailtest.TLSRPTMail("tls-reports@rep.test", "rep.test", s)
		}
		f, err := reports.Extract(mail, "", reports.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.AddReport("rep.test", f, "r@x.test", mail, now); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	d := mailtest.StartDNS(t)
	d.Add(t, "77.113.0.203.in-addr.arpa. PTR bulk.mailer.invalid.")
	var out, errb strings.Builder
	do := func(args ...string) int {
		out.Reset()
		errb.Reset()
		return Main(append(args, "--data", dir, "--dns", d.Addr), strings.NewReader(""), &out, &errb)
	}
	if do("domain", "reports", "rep.test") != 0 {
		t.Fatal(errb.String())
	}
	text := out.String()
	lines := strings.Split(text, "\n")
	first := ""
	for i, l := range lines {
		if strings.Contains(l, "DAY") && strings.Contains(l, "SOURCE") && i+1 < len(lines) {
			first = lines[i+1]
			break
		}
	}
	for _, want := range []string{"!", "203.0.113.77", "bulk.mailer.invalid", "softfail mailer.invalid", "quarantine", "google.com"} {
		if !strings.Contains(first, want) {
			t.Fatalf("first source row lacks %q: %q\n%s", want, first, text)
		}
	}
	for _, want := range []string{"1 DMARC reports (19 messages: 16 aligned, 3 failing", "certificate-host-mismatch 2", "starttls-not-supported 1", "Microsoft Corporation"} {
		if !strings.Contains(text, want) {
			t.Fatalf("output lacks %q:\n%s", want, text)
		}
	}
	if do("domain", "reports", "rep.test", "--json", "--no-dns") != 0 {
		t.Fatal(errb.String())
	}
	var sum store.ReportSummary
	if err := json.Unmarshal([]byte(out.String()), &sum); err != nil {
		t.Fatalf("--json: %v\n%s", err, out.String())
	}
	if sum.DMARC.Messages != 19 || len(sum.TLS) != 1 || sum.TLS[0].Failed != 3 || !sum.DMARC.Rows[0].Attention || sum.DMARC.Rows[0].Name != "" {
		t.Fatalf("--json summary %+v", sum)
	}
	if do("domain", "reports", "rep.test", "--days", "0") == 0 || !strings.Contains(errb.String(), "--days") {
		t.Fatalf("--days 0: %q", errb.String())
	}
	if do("domain", "reports", "nowhere.test") == 0 {
		t.Fatal("unknown domain accepted")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
