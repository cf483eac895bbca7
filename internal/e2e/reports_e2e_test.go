package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/store/reports"
)

// TestReportsThroughTheBinary runs the binary with a DMARC reporting
// address: a Google zip and a Microsoft gzip DMARC report and a TLS
// report mailed to its MX show in `domain reports`, a zip bomb is
// refused; mail from a domain that publishes rua= is evaluated, and
// `dmarc report-send --today` (through the socket) sends that domain an
// aggregate report through the queue to its MX, a loopback receiver,
// where it parses with our parser and its DKIM signature verifies
// against the keys `domain dns` publishes.
func TestReportsThroughTheBinary(t *testing.T) {
	d := mailtest.StartDNS(t)
	tlsConf, _ := mailtest.SelfSigned(t, "mx.watch.test")
	rcv := mailtest.StartReceiver(t, tlsConf)
	d.Add(t, "watch.test. 60 IN MX 10 mx.watch.test.", "mx.watch.test. 60 IN A 127.0.0.1")
	d.AddTXT("watch.test", "v=spf1 ip4:127.0.0.1 -all")
	d.AddTXT("_dmarc.watch.test", "v=DMARC1; p=none; rua=mailto:agg@watch.test")

	a := newInstance(t, "AUTHSMTP_TEST_DELIVERY_PORT="+strconv.Itoa(rcv.Port), "AUTHSMTP_DNS="+d.Addr,
		"AUTHSMTP_DMARC_REPORTS_FROM=dmarc-reports@a.test", "AUTHSMTP_HOSTNAME=mx.a.test")
	a.cli("", "domain", "add", "a.test")
	a.cli("alice-password-1\n", "user", "add", "alice@a.test")
	zone := a.cli("", "domain", "dns", "a.test")
	for _, want := range []string{"rua=mailto:dmarc-reports@a.test", "rua=mailto:tls-reports@a.test"} {
		if !strings.Contains(zone, want) {
			t.Fatalf("domain dns lacks %q:\n%s", want, zone)
		}
	}
	publishDKIM(t, d, zone)
	mxPort := freePort(t, "127.0.0.1")
	mx := fmt.Sprintf("127.0.0.1:%d", mxPort)
	a.start("--tls", "self-signed", "--mx", mx, "--submission", "", "--submissions", "", "--imap", "", "--imaps", "",
		"--https", "", "--http", "", "--retry-schedule", "200ms")

	day := time.Now().UTC().AddDate(0, 0, -1)
	for _, m := range []struct {
		from, to string
		msg      []byte
	}{
		{"noreply-dmarc-support@google.com", "dmarc-reports@a.test", mailtest.GoogleDMARCMail("dmarc-reports@a.test", "a.test", mailtest.ReportSample(t, "google.xml", "a.test", day))},
		{"dmarcreport@microsoft.com", "dmarc-reports@a.test", mailtest.MicrosoftDMARCMail("dmarc-reports@a.test", "a.test", mailtest.ReportSample(t, "microsoft.xml", "a.test", day))},
		{"tlsrpt-noreply@microsoft.com", "tls-reports@a.test", mailtest.TLSRPTMail("tls-reports@a.test", "a.test", mailtest.ReportSample(t, "microsoft-tlsrpt.json", "a.test", day))},
	} {
		if err := sendMX(mx, m.from, m.to, m.msg); err != nil {
			t.Fatalf("mailing the report of %s: %v", m.from, err)
		}
	}
	if err := sendMX(mx, "bomb@reporter.test", "dmarc-reports@a.test", mailtest.ZipBombDMARCMail("dmarc-reports@a.test", "a.test", 40<<20)); err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("zip bomb: %v", err)
	}
	out := a.cli("", "domain", "reports", "a.test", "--no-dns")
	for _, want := range []string{"2 DMARC reports (25 messages: 22 aligned, 3 failing", "203.0.113.77", "certificate-host-mismatch 2"} {
		if !strings.Contains(out, want) {
			t.Fatalf("domain reports lacks %q:\n%s", want, out)
		}
	}

	msg := "From: News <news@watch.test>\r\nTo: <alice@a.test>\r\nSubject: weekly\r\nMessage-ID: <w1@watch.test>\r\n\r\nnews\r\n"
	if err := sendMX(mx, "news@watch.test", "alice@a.test", []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if out := a.cli("", "dmarc", "report-send", "--today"); !strings.Contains(out, "1 DMARC reports queued") {
		t.Fatalf("dmarc report-send: %q\n%s", out, a.logs())
	}
	deadline := time.Now().Add(30 * time.Second)
	var got *mailtest.Received
	for got == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no report delivered:\n%s", a.logs())
		}
		for _, m := range rcv.Messages() {
			if len(m.Rcpts) == 1 && m.Rcpts[0] == "agg@watch.test" {
				got = &m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got.From != "dmarc-reports@a.test" || !got.TLS {
		t.Errorf("report envelope from %q, TLS %v", got.From, got.TLS)
	}
	res, _ := dnsx.New(d.Addr)
	lookup := func(name string) ([]string, error) { return res.LookupTXT(context.Background(), name) }
	verifs, err := msgdkim.VerifyWithOptions(bytes.NewReader(got.Data), &msgdkim.VerifyOptions{LookupTXT: lookup})
	if err != nil || len(verifs) == 0 {
		t.Fatalf("DKIM: %v %v", verifs, err)
	}
	for _, v := range verifs {
		if v.Err != nil || v.Domain != "a.test" {
			t.Errorf("DKIM signature of %s: %v", v.Domain, v.Err)
		}
	}
	f, err := reports.Extract(got.Data, reports.KindDMARC, reports.Limits{})
	if err != nil {
		t.Fatalf("our report does not parse: %v\n%s", err, got.Data)
	}
	fb := f.DMARC
	if fb.Policy.Domain != "watch.test" || fb.Metadata.OrgName != "mx.a.test" || len(fb.Records) != 1 {
		t.Fatalf("report %+v", fb)
	}
	r := fb.Records[0]
	if r.Row.SourceIP != "127.0.0.1" || r.Row.Count != 1 || r.Row.PolicyEvaluated.SPF != "pass" || r.Row.PolicyEvaluated.DKIM != "fail" ||
		r.Row.PolicyEvaluated.Disposition != "none" || r.Identifiers.HeaderFrom != "watch.test" || r.AuthResults.SPF[0].Result != "pass" {
		t.Fatalf("record %+v", r)
	}
}
