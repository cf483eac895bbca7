package dmarcrpt_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/smtp/dkim"
	"github.com/authsmtp/authsmtp/smtp/dmarcrpt"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/queue"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

func eval(domain, ip, from string, spfOK, dkimOK bool, disp string, rua ...string) store.DMARCEval {
	ev := store.DMARCEval{PolicyDomain: domain, Policy: reports.PolicyPublished{Domain: domain, ADKIM: "r", ASPF: "r", P: "quarantine", Pct: "100"},
		RUA: rua, SourceIP: ip, HeaderFrom: from, EnvelopeFrom: from, EnvelopeTo: "a.test", Disposition: disp,
		SPFAligned: spfOK, DKIMAligned: dkimOK, SPF: reports.SPFAuthResult{Domain: from, Scope: "mfrom", Result: "pass"}}
	if !spfOK {
		ev.SPF.Result = "fail"
	}
	if dkimOK {
		ev.DKIM = []reports.DKIMAuthResult{{Domain: from, Result: "pass"}}
	}
	return ev
}

// TestDailyReportsDelivered: a day of evaluations for two domains that
// publish rua= goes out as one report each through the queue to a
// loopback receiver; the external destination that confirms (RFC 7489
// §7.1) gets its report, the one that does not gets none; each report
// parses with our own parser (schema checks), counts the messages per
// source and outcome, and carries a DKIM signature of the reporting
// address's hosted domain.
func TestDailyReportsDelivered(t *testing.T) {
	log := testutil.Logger(t)
	st := testutil.Store(t)
	if _, err := st.AddDomain("a.test"); err != nil {
		t.Fatal(err)
	}
	d := mailtest.StartDNS(t)
	for _, dom := range []string{"watch.test", "reports.test", "noverify.test"} {
		d.Add(t, dom+". 60 IN MX 10 mx."+dom+".", "mx."+dom+". 60 IN A 127.0.0.1")
	}
	d.AddTXT("ext.test._report._dmarc.reports.test", "v=DMARC1")
	res, err := dnsx.New(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	res.Timeout = 5 * time.Second
	tlsConf, _ := mailtest.SelfSigned(t, "mx.watch.test", "mx.reports.test", "mx.noverify.test")
	rcv := mailtest.StartReceiver(t, tlsConf)

	if _, err := dmarcrpt.New(dmarcrpt.Config{Store: st, Resolver: res, Signer: dkim.New(st), From: "not an address", Hostname: "mx.a.test"}); err == nil {
		t.Fatal("a bad reporting address was taken")
	}
	rep, err := dmarcrpt.New(dmarcrpt.Config{Store: st, Resolver: res, Signer: dkim.New(st), From: "dmarc-reports@a.test", Hostname: "mx.a.test", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	run, err := queue.New(queue.Config{Store: st, Resolver: res, Hostname: "mx.a.test", Port: rcv.Port,
		Schedule: []time.Duration{time.Hour}, MaxAge: time.Hour, Timeout: 5 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	run.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		run.Stop(ctx)
	})

	for i := 0; i < 3; i++ {
		rep.Record(eval("watch.test", "192.0.2.10", "watch.test", true, true, "none", "mailto:agg@watch.test"))
	}
	rep.Record(eval("watch.test", "203.0.113.5", "watch.test", false, false, "quarantine", "mailto:agg@watch.test"))
	rep.Record(eval("ext.test", "198.51.100.7", "ext.test", false, true, "none", "mailto:dmarc@reports.test!10m", "mailto:other@noverify.test", "https://reports.test/x"))

	if n, err := rep.SendDue(context.Background(), time.Now()); err != nil || n != 0 {
		t.Fatalf("today's evaluations sent before the day ended: %d %v", n, err)
	}
	n, err := rep.SendDue(context.Background(), time.Now().Add(24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("SendDue = %d, %v; want 2 reports", n, err)
	}
	if days, _ := st.DMARCDays(time.Now().Add(48 * time.Hour)); len(days) != 0 {
		t.Errorf("days kept after their reports were queued: %+v", days)
	}
	got := map[string]mailtest.Received{}
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("reports received: %v", got)
		}
		for _, m := range rcv.Messages() {
			for _, r := range m.Rcpts {
				got[r] = m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	for _, m := range rcv.Messages() {
		for _, r := range m.Rcpts {
			if r == "other@noverify.test" {
				t.Fatal("the unverified external destination got a report")
			}
		}
	}
	w := checkReport(t, st, got["agg@watch.test"], "watch.test")
	if len(w.Records) != 2 || w.Messages() != 4 || w.Records[0].Row.Count != 3 || w.Records[0].Row.SourceIP != "192.0.2.10" ||
		w.Records[1].Row.PolicyEvaluated.Disposition != "quarantine" || w.Records[1].Row.PolicyEvaluated.SPF != "fail" || w.Records[1].Row.PolicyEvaluated.DKIM != "fail" {
		t.Errorf("watch.test records: %+v", w.Records)
	}
	e := checkReport(t, st, got["dmarc@reports.test"], "ext.test")
	if len(e.Records) != 1 || e.Records[0].Row.PolicyEvaluated.DKIM != "pass" || e.Records[0].Row.PolicyEvaluated.SPF != "fail" || e.Records[0].Identifiers.EnvelopeTo != "a.test" {
		t.Errorf("ext.test records: %+v", e.Records)
	}
}

// checkReport reads a report mail with our own parser and checks its
// envelope, headers, period and DKIM signature.
func checkReport(t *testing.T, st *store.Store, m mailtest.Received, domain string) *reports.Feedback {
	t.Helper()
	if m.From != "dmarc-reports@a.test" {
		t.Errorf("envelope from %q", m.From)
	}
	if !bytes.Contains(m.Data, []byte("Subject: Report Domain: "+domain+" Submitter: mx.a.test Report-ID: <")) {
		t.Errorf("subject of the %s report:\n%s", domain, m.Data)
	}
	f := testutil.ReportMail(t, st, "a.test", m.Data, reports.KindDMARC)
	fb := f.DMARC
	day := time.Now().UTC().Truncate(24 * time.Hour)
	if fb.Metadata.OrgName != "mx.a.test" || fb.Metadata.Email != "dmarc-reports@a.test" || !fb.Begin().Equal(day) || fb.End().Sub(fb.Begin()) != 24*time.Hour-time.Second ||
		fb.Policy.Domain != domain || fb.Policy.P != "quarantine" || f.Name != "mx.a.test!"+domain+"!"+fmt.Sprint(day.Unix())+"!"+fmt.Sprint(day.Unix()+86399)+".xml.gz" {
		t.Errorf("%s report metadata %+v policy %+v name %q", domain, fb.Metadata, fb.Policy, f.Name)
	}
	return fb
}
