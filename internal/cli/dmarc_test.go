package cli

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/store"
)

// TestDMARCReportSend: `dmarc report-send` needs --dmarc-reports-from,
// refuses in capture mode, queues yesterday's report (from the reporting
// address to the rua), and today's only with --today.
func TestDMARCReportSend(t *testing.T) {
	d := mailtest.StartDNS(t)
	t.Setenv("AUTHSMTP_DNS", d.Addr)
	t.Setenv("AUTHSMTP_HOSTNAME", "mx.a.test")
	dir := t.TempDir()
	if _, errs, code := runCLI(t, dir, "", "domain", "add", "a.test"); code != 0 {
		t.Fatal(errs)
	}
	st, err := store.Open(dir, store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ev := store.DMARCEval{PolicyDomain: "remote.test", RUA: []string{"mailto:dmarc@remote.test"}, SourceIP: "192.0.2.1", HeaderFrom: "remote.test", Disposition: "none"}
	ev.Policy.Domain, ev.Policy.P = "remote.test", "none"
	for _, at := range []time.Time{time.Now().Add(-24 * time.Hour), time.Now()} {
		if err := st.AddDMARCEval(at, ev); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	if _, errs, code := runCLI(t, dir, "", "dmarc", "report-send"); code == 0 || !strings.Contains(errs, "--dmarc-reports-from") {
		t.Fatalf("without a reporting address: exit %d %q", code, errs)
	}
	t.Setenv("AUTHSMTP_DMARC_REPORTS_FROM", "dmarc-reports@a.test")
	if _, errs, code := runCLI(t, dir, "", "dmarc", "report-send", "--capture"); code == 0 || !strings.Contains(errs, "capture") {
		t.Fatalf("capture mode: exit %d %q", code, errs)
	}
	out, errs, code := runCLI(t, dir, "", "dmarc", "report-send")
	if code != 0 || !strings.Contains(out, "1 DMARC reports queued") {
		t.Fatalf("report-send: exit %d %q %q", code, out, errs)
	}
	out, _, _ = runCLI(t, dir, "", "queue", "list")
	if !strings.Contains(out, "dmarc@remote.test") || !strings.Contains(out, "dmarc-reports@a.test") {
		t.Fatalf("queue after report-send:\n%s", out)
	}
	if out, _, _ := runCLI(t, dir, "", "dmarc", "report-send"); !strings.Contains(out, "0 DMARC reports queued") {
		t.Fatalf("second run: %q", out)
	}
	if out, _, _ := runCLI(t, dir, "", "dmarc", "report-send", "--today"); !strings.Contains(out, "1 DMARC reports queued") {
		t.Fatalf("--today: %q", out)
	}
}
