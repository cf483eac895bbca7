package mx

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/store"
)

func reportSample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../store/reports/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "example.com", "a.test")
}

// TestReportsReceived: dmarc-reports@ and tls-reports@ of a hosted
// domain take reports with no such user; each is parsed and stored for
// the domain, none lands in a mailbox; a zip bomb and malformed XML are
// refused; a report to the address and a user in one mail reaches both.
func TestReportsReceived(t *testing.T) {
	e := newMX(t, func(c *Config) { c.Reports.MaxDecompressed = 1 << 20 })
	send := func(from, to string, msg []byte) error {
		return e.send(t, from, []string{to}, msg)
	}
	if err := send("noreply-dmarc-support@google.com", "dmarc-reports@a.test", mailtest.GoogleDMARCMail("dmarc-reports@a.test", "a.test", reportSample(t, "google.xml"))); err != nil {
		t.Fatalf("google zip: %v", err)
	}
	if err := send("dmarcreport@microsoft.com", "DMARC-Reports@a.test", mailtest.MicrosoftDMARCMail("dmarc-reports@a.test", "a.test", reportSample(t, "microsoft.xml"))); err != nil {
		t.Fatalf("microsoft gzip: %v", err)
	}
	if err := send("tlsrpt-noreply@microsoft.com", "tls-reports@a.test", mailtest.TLSRPTMail("tls-reports@a.test", "a.test", reportSample(t, "microsoft-tlsrpt.json"))); err != nil {
		t.Fatalf("tlsrpt: %v", err)
	}
	// The same report again is taken and stored once.
	if err := send("noreply-dmarc-support@google.com", "dmarc-reports@a.test", mailtest.GoogleDMARCMail("dmarc-reports@a.test", "a.test", reportSample(t, "google.xml"))); err != nil {
		t.Fatalf("google again: %v", err)
	}
	err := send("bomb@reporter.test", "dmarc-reports@a.test", mailtest.ZipBombDMARCMail("dmarc-reports@a.test", "a.test", 4<<20))
	if codeOf(err) != 552 {
		t.Fatalf("zip bomb: %v", err)
	}
	err = send("x@reporter.test", "dmarc-reports@a.test", mailtest.PlainDMARCMail("dmarc-reports@a.test", "a.test", "<feedback><report_metadata>"))
	if codeOf(err) != 550 || !strings.Contains(err.Error(), "DMARC aggregate report") {
		t.Fatalf("malformed XML: %v", err)
	}
	// A DMARC report sent to the TLS address is not a TLS report.
	if err := send("x@reporter.test", "tls-reports@a.test", mailtest.GoogleDMARCMail("tls-reports@a.test", "a.test", reportSample(t, "yahoo.xml"))); codeOf(err) != 550 {
		t.Fatalf("DMARC report to tls-reports@: %v", err)
	}
	rs, err := e.st.Reports("a.test", time.Time{})
	if err != nil || len(rs) != 3 {
		t.Fatalf("%d reports stored, %v", len(rs), err)
	}
	kinds := map[string]int{}
	for _, r := range rs {
		kinds[string(r.Kind)]++
		if r.Domain != "a.test" || r.Sender == "" {
			t.Fatalf("report %+v", r)
		}
	}
	if kinds["dmarc"] != 2 || kinds["tlsrpt"] != 1 {
		t.Fatalf("kinds %v", kinds)
	}
	if n := e.st.HeldPostmasterMail("a.test"); n != 0 {
		t.Fatalf("reports held as postmaster mail: %d", n)
	}
	// To the report address and alice at once: alice gets the mail, the
	// report is stored, whatever became of the other.
	msg := mailtest.YahooDMARCMail("dmarc-reports@a.test, alice@a.test", "a.test", reportSample(t, "yahoo.xml"))
	if err := e.send(t, "dmarchelp@yahooinc.com", []string{"dmarc-reports@a.test", "alice@a.test"}, msg); err != nil {
		t.Fatal(err)
	}
	if got := e.mailbox(t, "alice@a.test", "INBOX"); len(got) != 1 {
		t.Fatalf("alice has %d messages", len(got))
	}
	if rs, _ := e.st.Reports("a.test", time.Time{}); len(rs) != 4 {
		t.Fatalf("%d reports after the yahoo one", len(rs))
	}
	// A TLS report to postmaster@ still reaches the held postmaster mail
	// and is recorded.
	if err := send("tlsrpt@google.com", "postmaster@a.test", mailtest.TLSRPTMail("postmaster@a.test", "a.test", reportSample(t, "google-tlsrpt.json"))); err != nil {
		t.Fatal(err)
	}
	if n := e.st.HeldPostmasterMail("a.test"); n != 1 {
		t.Fatalf("postmaster mail held: %d", n)
	}
	if rs, _ := e.st.Reports("a.test", time.Time{}); len(rs) != 5 {
		t.Fatalf("%d reports after the TLS report to postmaster", len(rs))
	}
	// Not at an unhosted domain.
	if err := send("x@reporter.test", "dmarc-reports@other.test", []byte("Subject: x\r\n\r\nx\r\n")); codeOf(err) != 554 {
		t.Fatalf("report address of another domain: %v", err)
	}
}

// TestDMARCEvaluationsKept: mail whose author domain publishes rua= is
// handed to Config.DMARCEvals with the source, the results, the
// alignment and the disposition; mail from a domain without rua= is not.
func TestDMARCEvaluationsKept(t *testing.T) {
	var mu sync.Mutex
	var evs []store.DMARCEval
	e := newMX(t, func(c *Config) {
		c.DMARCEvals = func(ev store.DMARCEval) { mu.Lock(); evs = append(evs, ev); mu.Unlock() }
	})
	e.dns.AddTXT("watch.test", "v=spf1 ip4:127.0.0.1 -all")
	e.dns.AddTXT("_dmarc.watch.test", "v=DMARC1; p=quarantine; adkim=s; rua=mailto:agg@rua.test")
	msg := func(from string) []byte {
		return []byte("From: <" + from + ">\r\nTo: <alice@a.test>\r\nSubject: watched\r\nMessage-ID: <" + strconv.FormatInt(time.Now().UnixNano(), 10) + "@watch.test>\r\n\r\nhi\r\n")
	}
	if err := e.send(t, "news@watch.test", []string{"alice@a.test"}, msg("news@watch.test")); err != nil {
		t.Fatal(err)
	}
	if err := e.send(t, "spoof@elsewhere.test", []string{"alice@a.test"}, msg("ceo@mail.watch.test")); err != nil {
		t.Fatal(err)
	}
	if err := e.send(t, "someone@sender.test", []string{"bob@a.test"}, e.signed(t, "someone@sender.test", "bob@a.test", "no rua", "")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(evs) != 2 {
		t.Fatalf("%d evaluations: %+v", len(evs), evs)
	}
	good, bad := evs[0], evs[1]
	if good.PolicyDomain != "watch.test" || good.SourceIP != "127.0.0.1" || !good.SPFAligned || good.DKIMAligned || good.Disposition != "none" ||
		good.SPF.Result != "pass" || good.RUA[0] != "mailto:agg@rua.test" || good.Policy.ADKIM != "s" || good.Policy.P != "quarantine" || good.EnvelopeTo != "a.test" {
		t.Fatalf("passing evaluation %+v", good)
	}
	if bad.PolicyDomain != "watch.test" || bad.HeaderFrom != "mail.watch.test" || bad.SPFAligned || bad.Disposition != "quarantine" || bad.EnvelopeFrom != "elsewhere.test" {
		t.Fatalf("failing evaluation %+v", bad)
	}
	if got := e.mailbox(t, "alice@a.test", "Junk"); len(got) != 1 {
		t.Fatalf("the quarantined message is not in Junk: %d", len(got))
	}
}

// TestReportCapRefuses: past the domain's daily cap a report mail is
// refused with 452 4.2.2 (the sender tries again later) and not stored;
// a user in the same transaction still gets the mail.
func TestReportCapRefuses(t *testing.T) {
	st := mxStore(t, t.TempDir(), store.Options{ReportCap: store.ReportCap{Reports: 1}})
	e := newMXOn(t, st, nil)
	google := mailtest.GoogleDMARCMail("dmarc-reports@a.test", "a.test", reportSample(t, "google.xml"))
	if err := e.send(t, "noreply-dmarc-support@google.com", []string{"dmarc-reports@a.test"}, google); err != nil {
		t.Fatalf("first report: %v", err)
	}
	yahoo := mailtest.YahooDMARCMail("dmarc-reports@a.test", "a.test", reportSample(t, "yahoo.xml"))
	err := e.send(t, "dmarchelp@yahooinc.com", []string{"dmarc-reports@a.test"}, yahoo)
	if se, _ := err.(*gosmtp.SMTPError); se == nil || se.Code != 452 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 2, 2}) {
		t.Fatalf("report past the cap: %v, want 452 4.2.2", err)
	}
	if err := e.send(t, "dmarchelp@yahooinc.com", []string{"dmarc-reports@a.test", "alice@a.test"}, yahoo); err != nil {
		t.Fatalf("past the cap, with a user: %v", err)
	}
	if got := e.mailbox(t, "alice@a.test", "INBOX"); len(got) != 1 {
		t.Fatalf("alice has %d messages", len(got))
	}
	if rs, _ := st.Reports("a.test", time.Time{}); len(rs) != 1 {
		t.Fatalf("%d reports stored, want 1", len(rs))
	}
}
