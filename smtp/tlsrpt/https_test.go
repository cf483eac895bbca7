package tlsrpt_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/smtp/dkim"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/tlsrpt"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// post is one request the report server received.
type post struct {
	method, contentType string
	body                []byte
}

// httpsEnv is a reporter whose one recorded day is for posted.test,
// which publishes rua=https://reports.test:PORT/tlsrpt, served on
// loopback by a TLS server with a certificate for reports.test.
type httpsEnv struct {
	rep   *tlsrpt.Reporter
	st    *store.Store
	mu    sync.Mutex
	posts []post
}

func newHTTPSEnv(t *testing.T, handler http.HandlerFunc, mod func(*tlsrpt.Config)) *httpsEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(t.TempDir(), store.Options{Logger: log, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.AddDomain("a.test"); err != nil {
		t.Fatal(err)
	}
	e := &httpsEnv{st: st}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.posts = append(e.posts, post{r.Method, r.Header.Get("Content-Type"), body})
		e.mu.Unlock()
		handler(w, r)
	}))
	conf, pool := mailtest.SelfSigned(t, "reports.test")
	srv.TLS = conf
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().String()[strings.LastIndexByte(srv.Listener.Addr().String(), ':')+1:]

	d := mailtest.StartDNS(t)
	d.Add(t, "reports.test. 60 IN A 127.0.0.1")
	d.AddTXT("_smtp._tls.posted.test", "v=TLSRPTv1; rua=https://reports.test:"+port+"/tlsrpt")
	res, err := dnsx.New(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	res.Timeout = 5 * time.Second
	cfg := tlsrpt.Config{Store: st, Resolver: res, Signer: dkim.New(st), Hostname: "mx.a.test", Logger: log,
		RootCAs: pool, PrivateHTTPS: true}
	if mod != nil {
		mod(&cfg)
	}
	e.rep, err = tlsrpt.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.rep.Record(store.TLSResult{Domain: "posted.test", PolicyType: "no-policy-found", MXHost: "mx.posted.test", Count: 3})
	e.rep.Record(store.TLSResult{Domain: "posted.test", PolicyType: "no-policy-found", Result: "starttls-not-supported",
		MXHost: "mx.posted.test", ReceivingIP: "192.0.2.7", SendingIP: "192.0.2.1"})
	return e
}

func (e *httpsEnv) sendDue(t *testing.T) int {
	t.Helper()
	n, err := e.rep.SendDue(context.Background(), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *httpsEnv) received() []post {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]post(nil), e.posts...)
}

// TestReportPostedToHTTPS: a domain whose rua is an https: URL gets its
// report as a POST of application/tlsrpt+gzip (RFC 8460 §5.2), which
// the receiving side's own parser (store/reports) reads back; nothing
// is queued as mail.
func TestReportPostedToHTTPS(t *testing.T) {
	e := newHTTPSEnv(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }, nil)
	if n := e.sendDue(t); n != 1 {
		t.Fatalf("SendDue sent %d reports, want 1", n)
	}
	got := e.received()
	if len(got) != 1 || got[0].method != http.MethodPost || got[0].contentType != "application/tlsrpt+gzip" {
		t.Fatalf("the report server got %+v", got)
	}
	zr, err := gzip.NewReader(bytes.NewReader(got[0].body))
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := reports.ParseTLSRPT(js, reports.Limits{})
	if err != nil {
		t.Fatalf("the posted report does not parse: %v\n%s", err, js)
	}
	if r.OrganizationName != "mx.a.test" || len(r.Policies) != 1 || r.Policies[0].Policy.Domain != "posted.test" ||
		r.Policies[0].Summary.Successful != 3 || r.Policies[0].Summary.Failed != 1 ||
		len(r.Policies[0].FailureDetails) != 1 || r.Policies[0].FailureDetails[0].ResultType != "starttls-not-supported" {
		t.Errorf("posted report: %+v", r)
	}
	if q, _ := e.st.ListQueue(); len(q) != 0 {
		t.Errorf("%d mails queued for an https: rua", len(q))
	}
	if days, _ := e.st.TLSDays(time.Time{}); len(days) != 0 {
		t.Errorf("the day was kept after its report was posted: %+v", days)
	}
}

// TestReportHTTPSRefusals: an answer other than 2xx, a server that does
// not answer within HTTPTimeout, and (outside tests) a URL whose host is
// on a loopback address are no delivery; the hanging server costs no
// more than the timeout.
func TestReportHTTPSRefusals(t *testing.T) {
	t.Run("HTTP 500", func(t *testing.T) {
		e := newHTTPSEnv(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }, nil)
		if n := e.sendDue(t); n != 0 || len(e.received()) != 1 {
			t.Fatalf("sent %d, server got %d requests; want 0 sent after 1 request", n, len(e.received()))
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		e := newHTTPSEnv(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}, func(c *tlsrpt.Config) { c.HTTPTimeout = 300 * time.Millisecond })
		start := time.Now()
		if n := e.sendDue(t); n != 0 {
			t.Fatalf("sent %d to a server that never answered", n)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("SendDue took %v with a 300ms HTTP timeout", took)
		}
	})
	t.Run("loopback refused", func(t *testing.T) {
		e := newHTTPSEnv(t, func(w http.ResponseWriter, r *http.Request) {}, func(c *tlsrpt.Config) { c.PrivateHTTPS = false })
		if n := e.sendDue(t); n != 0 || len(e.received()) != 0 {
			t.Fatalf("sent %d, server got %d requests; a loopback address must not be dialed", n, len(e.received()))
		}
	})
}
