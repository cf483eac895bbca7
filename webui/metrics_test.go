package webui

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/internal/metrics"
)

func TestMetricsCounted(t *testing.T) {
	e := newEnv(t)
	m := metrics.New(metrics.Config{})
	ui, err := New(Config{Store: e.st, Events: e.st.Events, Throttle: e.st.Throttle, Junk: e.st.Junk, Submitter: e.sub, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(t, err)
	e.ts.Close()
	e.ts = httptest.NewTLSServer(ui.Handler())
	defer e.ts.Close()
	c := e.client()
	c.tryLogin("mail", testDom, "wrong")
	c.login("mail", testDom, domPW)
	c.post("/mail/compose", url.Values{"from": {"a@doe.test"}, "to": {testUser}})
	c.post("/mail/compose", url.Values{"from": {"a@other.test"}, "to": {testUser}})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	for _, want := range []string{
		`authsmtp_auth_total{proto="web",result="fail"} 1`,
		`authsmtp_auth_total{proto="web",result="ok"} 1`,
		`authsmtp_messages_accepted_total{proto="web"} 1`,
		`authsmtp_messages_refused_total{proto="web",reason="send_as"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
