package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/authsmtp/authsmtp/store"
)

// scrape fetches /metrics over HTTP and parses it with the Prometheus
// text parser, as a Prometheus server would.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value finds the sample of family name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestMetricsScrape(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.AddDomain("m.test")
	st.AddUser("u@m.test", "Usr-pass-k9W!q")
	past := time.Now().Add(-90 * time.Second)
	if _, err := st.Accept(&store.Incoming{From: "u@m.test", Remote: []string{"x@remote.example"}, Body: []byte("Subject: q\r\n\r\nx\r\n")}); err != nil {
		t.Fatal(err)
	}
	expiry := time.Now().Add(40 * 24 * time.Hour).Truncate(time.Second)
	m := New(Config{Store: st, Version: "test", Certs: func() []Cert {
		return []Cert{{"mail.m.test", expiry}, {"mail.m.test", expiry}}
	}})
	m.Connection(ProtoSubmission)
	m.Connection(ProtoSubmission)
	m.Auth(ProtoSubmission, true)
	m.Auth(ProtoIMAP, false)
	m.Accepted(ProtoSubmission)
	m.Refused(ProtoSubmission, ReasonSendAs)
	m.Delivery(DeliveryTempFail)
	end := m.Session(ProtoIMAP)
	m.Session(ProtoIMAP)
	end()

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	fams := scrape(t, srv.URL)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"authsmtp_connections_total", map[string]string{"proto": "submission"}, 2},
		{"authsmtp_connections_total", map[string]string{"proto": "mx"}, 0},
		{"authsmtp_auth_total", map[string]string{"proto": "submission", "result": "ok"}, 1},
		{"authsmtp_auth_total", map[string]string{"proto": "imap", "result": "fail"}, 1},
		{"authsmtp_messages_accepted_total", map[string]string{"proto": "submission"}, 1},
		{"authsmtp_messages_refused_total", map[string]string{"proto": "submission", "reason": "send_as"}, 1},
		{"authsmtp_delivery_attempts_total", map[string]string{"result": "temporary_failure"}, 1},
		{"authsmtp_sessions", map[string]string{"proto": "imap"}, 1},
		{"authsmtp_queue_messages", nil, 1},
		{"authsmtp_domains", nil, 1},
		{"authsmtp_users", nil, 1},
		{"authsmtp_cert_expiry_timestamp_seconds", map[string]string{"name": "mail.m.test"}, float64(expiry.Unix())},
		{"authsmtp_build_info", map[string]string{"version": "test"}, 1},
	}
	for _, c := range checks {
		got, ok := value(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if age, _ := value(fams, "authsmtp_queue_oldest_age_seconds", nil); age < 0 || age > time.Since(past).Seconds() {
		t.Errorf("queue age %v", age)
	}
	if size, _ := value(fams, "authsmtp_store_bytes", nil); size < 4096 {
		t.Errorf("store size %v", size)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if n := len(fams["authsmtp_cert_expiry_timestamp_seconds"].GetMetric()); n != 1 {
		t.Errorf("%d expiry series for one name", n)
	}
}

// A nil *Metrics is a valid "metrics off".
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.Connection(ProtoMX)
	m.Auth(ProtoMX, true)
	m.Accepted(ProtoMX)
	m.Refused(ProtoMX, ReasonRcpt)
	m.Delivery(DeliveryOK)
	m.Session(ProtoIMAP)()
	if m.Registry() != nil {
		t.Fatal("nil metrics has a registry")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 || strings.Contains(rec.Body.String(), "authsmtp_") {
		t.Fatalf("nil handler: %d %q", rec.Code, rec.Body.String())
	}
}

// Two Metrics never share state: there is no global registry.
func TestMetricsIndependent(t *testing.T) {
	a, b := New(Config{}), New(Config{})
	a.Accepted(ProtoMX)
	fa, _ := a.Registry().Gather()
	fb, _ := b.Registry().Gather()
	get := func(fs []*dto.MetricFamily) float64 {
		for _, f := range fs {
			if f.GetName() == "authsmtp_messages_accepted_total" {
				for _, m := range f.Metric {
					if m.Label[0].GetValue() == ProtoMX {
						return m.Counter.GetValue()
					}
				}
			}
		}
		return -1
	}
	if get(fa) != 1 || get(fb) != 0 {
		t.Fatalf("a=%v b=%v", get(fa), get(fb))
	}
}

func TestReasonFor(t *testing.T) {
	for _, c := range []struct {
		code int
		enh  [3]int
		want string
	}{
		{553, [3]int{5, 7, 1}, ReasonSendAs},
		{550, [3]int{5, 7, 1}, ReasonSendAs},
		{554, [3]int{5, 7, 1}, ReasonRcpt},
		{530, [3]int{5, 7, 0}, ReasonAuth},
		{535, [3]int{5, 7, 8}, ReasonAuth},
		{451, [3]int{4, 7, 1}, ReasonRate},
		{450, [3]int{4, 7, 1}, ReasonRate},
		{550, [3]int{5, 1, 1}, ReasonRcpt},
		{552, [3]int{5, 2, 2}, ReasonQuota},
		{552, [3]int{5, 3, 4}, ReasonSize},
		{452, [3]int{4, 3, 1}, ReasonStorage},
		{452, [3]int{4, 5, 3}, ReasonRate},
		{500, [3]int{5, 5, 2}, ReasonSyntax},
		{550, [3]int{5, 6, 0}, ReasonSyntax},
		{554, [3]int{5, 4, 6}, ReasonPolicy},
		{550, [3]int{5, 7, 26}, ReasonPolicy},
		{451, [3]int{4, 0, 0}, ReasonOther},
	} {
		if got := ReasonFor(c.code, c.enh); got != c.want {
			t.Errorf("%d %v: %s, want %s", c.code, c.enh, got, c.want)
		}
	}
}
