package tlsrpt_test

import (
	"bytes"
	"context"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/smtp/dane"
	"github.com/authsmtp/authsmtp/smtp/dkim"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/queue"
	"github.com/authsmtp/authsmtp/smtp/tlsrpt"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// TestDailyReportDelivered sends mail to a domain with a good TLS server
// (success, no policy) and to one whose DANE record the server does not
// match (failure, tlsa); both publish _smtp._tls with a mailto: rua. The
// day's reports go through the queue to the rua's MX, a loopback
// receiver, where the test parses them: RFC 8460 headers, the gzipped
// JSON and its fields, and a DKIM signature that verifies with the
// hosted domain's published key.
func TestDailyReportDelivered(t *testing.T) {
	log := testutil.Logger(t)
	st := testutil.Store(t)
	if _, err := st.AddDomain("a.test"); err != nil {
		t.Fatal(err)
	}
	d := mailtest.StartDNS(t)
	d.SetAD(true)
	for _, dom := range []string{"remote.test", "dane.test", "reports.test"} {
		d.Add(t, dom+". 60 IN MX 10 mx."+dom+".", "mx."+dom+". 60 IN A 127.0.0.1")
	}
	d.AddTXT("_smtp._tls.remote.test", "v=TLSRPTv1; rua=mailto:tls@reports.test")
	d.AddTXT("_smtp._tls.dane.test", "v=TLSRPTv1;rua=https://reports.test/x,mailto:dane-tls@reports.test")
	other := mailtest.NewCA(t, "Other").Leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mx.dane.test")
	d.Add(t, "_25._tcp.mx.dane.test. 60 IN TLSA "+dane.Record(3, 1, 1, other.Leaf).String())
	res, err := dnsx.New(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	res.DNSSEC = true
	res.Timeout = 5 * time.Second

	tlsConf, _ := mailtest.SelfSigned(t, "mx.remote.test", "mx.dane.test", "mx.reports.test")
	rcv := mailtest.StartReceiver(t, tlsConf)

	rep, err := tlsrpt.New(tlsrpt.Config{Store: st, Resolver: res, Signer: dkim.New(st), Hostname: "mx.a.test", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	run, err := queue.New(queue.Config{Store: st, Resolver: res, Hostname: "mx.a.test", Port: rcv.Port,
		Schedule: []time.Duration{time.Hour}, MaxAge: time.Hour, Timeout: 5 * time.Second, Logger: log, TLSResults: rep.Record})
	if err != nil {
		t.Fatal(err)
	}
	run.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		run.Stop(ctx)
	})
	var ids []string
	for _, to := range []string{"bob@remote.test", "eve@dane.test"} {
		acc, err := st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{to}, Body: []byte("From: alice@a.test\r\nTo: " + to + "\r\nSubject: x\r\n\r\nhi\r\n")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, acc.QueueID)
	}
	waitFor(t, func() bool {
		_, err := st.GetQueue(ids[0])
		q, _ := st.GetQueue(ids[1])
		return err != nil && len(q.Attempts) > 0
	})

	// A trigger for "tomorrow" sends today's reports.
	n, err := rep.SendDue(context.Background(), time.Now().Add(24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("SendDue = %d, %v; want 2 reports", n, err)
	}
	if days, _ := st.TLSDays(time.Time{}); len(days) != 0 {
		t.Errorf("days kept after their reports were queued: %+v", days)
	}
	var got map[string]*mailtest.Received
	waitFor(t, func() bool {
		got = map[string]*mailtest.Received{}
		for _, m := range rcv.Messages() {
			m := m
			got[m.Rcpts[0]] = &m
		}
		return got["tls@reports.test"] != nil && got["dane-tls@reports.test"] != nil
	})

	ok := checkReport(t, st, got["tls@reports.test"], "remote.test")
	if len(ok.Policies) != 1 || ok.Policies[0].Policy.Type != "no-policy-found" || ok.Policies[0].Summary.Successful != 1 || ok.Policies[0].Summary.Failed != 0 {
		t.Errorf("remote.test report policies: %+v", ok.Policies)
	}
	bad := checkReport(t, st, got["dane-tls@reports.test"], "dane.test")
	if len(bad.Policies) != 1 {
		t.Fatalf("dane.test report policies: %+v", bad.Policies)
	}
	p := bad.Policies[0]
	if p.Policy.Type != "tlsa" || len(p.Policy.String) != 1 || !strings.HasPrefix(p.Policy.String[0], "3 1 1 ") || p.Summary.Failed != 1 || p.Summary.Successful != 0 {
		t.Errorf("dane.test policy: %+v", p)
	}
	if len(p.FailureDetails) != 1 || p.FailureDetails[0].ResultType != "validation-failure" || p.FailureDetails[0].ReceivingMXHostname != "mx.dane.test" ||
		p.FailureDetails[0].ReceivingIP != "127.0.0.1" || p.FailureDetails[0].SendingMTAIP != "127.0.0.1" || p.FailureDetails[0].FailedSessions != 1 {
		t.Errorf("dane.test failure details: %+v", p.FailureDetails)
	}
}

// checkReport reads a report mail as a receiver would (DKIM, our own
// report reader) and checks the RFC 8460 §5.3 headers and the report's
// fields.
func checkReport(t *testing.T, st *store.Store, m *mailtest.Received, domain string) *reports.TLSReport {
	t.Helper()
	if m.From != "postmaster@a.test" || !m.TLS {
		t.Errorf("report envelope from %q (TLS %v)", m.From, m.TLS)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if h.Get("TLS-Report-Domain") != domain || h.Get("TLS-Report-Submitter") != "mx.a.test" ||
		!strings.HasPrefix(h.Get("Subject"), "Report Domain: "+domain+" Submitter: mx.a.test Report-ID: <") {
		t.Errorf("report headers: %v", h)
	}
	if mt, params, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q", h.Get("Content-Type"))
	}
	f := testutil.ReportMail(t, st, "a.test", m.Data, reports.KindTLSRPT)
	if !strings.HasPrefix(f.Name, "mx.a.test!"+domain+"!") || !strings.HasSuffix(f.Name, ".json.gz") {
		t.Errorf("attachment name %q", f.Name)
	}
	r := f.TLS
	day := time.Now().UTC().Truncate(24 * time.Hour)
	if r.OrganizationName != "mx.a.test" || r.ContactInfo != "postmaster@a.test" || !r.DateRange.Start.Equal(day) || r.DateRange.End.Sub(r.DateRange.Start) != 24*time.Hour-time.Second {
		t.Errorf("report header fields: %+v", r)
	}
	for _, p := range r.Policies {
		if p.Policy.Domain != domain {
			t.Errorf("policy-domain %q, want %s", p.Policy.Domain, domain)
		}
	}
	return r
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
