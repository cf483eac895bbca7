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

// TestTLSReportSend: `tls report-send` queues the report of a recorded
// day for a domain that publishes _smtp._tls (and forgets the day), does
// nothing for today's results without --today, and refuses in capture mode.
func TestTLSReportSend(t *testing.T) {
	d := mailtest.StartDNS(t)
	d.AddTXT("_smtp._tls.remote.test", "v=TLSRPTv1; rua=mailto:tls@reports.test")
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
	res := []store.TLSResult{{Domain: "remote.test", PolicyType: "no-policy-found"}, {Domain: "remote.test", PolicyType: "no-policy-found", Result: "starttls-not-supported", MXHost: "mx.remote.test"}}
	if err := st.AddTLSResults(time.Now().Add(-24*time.Hour), res); err != nil {
		t.Fatal(err)
	}
	if err := st.AddTLSResults(time.Now(), res); err != nil {
		t.Fatal(err)
	}
	st.Close()

	if _, errs, code := runCLI(t, dir, "", "tls", "report-send", "--capture"); code == 0 || !strings.Contains(errs, "capture") {
		t.Fatalf("capture mode: exit %d %q", code, errs)
	}
	out, errs, code := runCLI(t, dir, "", "tls", "report-send")
	if code != 0 || !strings.Contains(out, "1 TLS reports queued") {
		t.Fatalf("report-send: exit %d %q %q", code, out, errs)
	}
	out, _, _ = runCLI(t, dir, "", "queue", "list")
	if !strings.Contains(out, "tls@reports.test") || !strings.Contains(out, "postmaster@a.test") {
		t.Fatalf("queue after report-send:\n%s", out)
	}
	if out, _, _ := runCLI(t, dir, "", "tls", "report-send"); !strings.Contains(out, "0 TLS reports queued") {
		t.Fatalf("second run: %q", out)
	}
	if out, _, _ := runCLI(t, dir, "", "tls", "report-send", "--today"); !strings.Contains(out, "1 TLS reports queued") {
		t.Fatalf("--today: %q", out)
	}
}
