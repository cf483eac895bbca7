package webui

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/store"
)

// routeSubmitter is a small stand-in for smtp.Pipeline used by these
// handler tests (webui may not import smtp): it applies the same send rule
// and routing through the real store. The full pipeline is exercised by
// the end-to-end tests in internal/serve and internal/e2e.
type routeSubmitter struct{ st *store.Store }

func (r routeSubmitter) Submit(ctx context.Context, who store.Principal, from string, rcpts []string, msg []byte) (*store.Accepted, error) {
	if !r.st.MaySendAs(who, from) {
		return nil, &Refused{Reason: store.SendAsError(who, from)}
	}
	in := &store.Incoming{From: from, Login: who.Login(), Body: msg}
	for _, rc := range rcpts {
		rt, err := r.st.Route(rc)
		if err != nil {
			return nil, &Refused{Reason: err.Error()}
		}
		in.Local = append(in.Local, rt.Local...)
		in.Remote = append(in.Remote, rt.Remote...)
	}
	return r.st.Accept(in)
}

type env struct {
	t   testing.TB
	st  *store.Store
	ui  *Server
	ts  *httptest.Server
	sub Submitter
}

const (
	adminPW  = "Admin-pass-4-tests!"
	domPW    = "Domain-pass-4-tests!"
	userPW   = "User-pass-4-tests!"
	testDom  = "doe.test"
	testUser = "john@doe.test"
)

func newEnv(t *testing.T) *env { return newEnvTB(t) }

func newEnvTB(t testing.TB) *env {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.Throttle.SetConfig(store.ThrottleConfig{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, BlockAfter: 5})
	must(t, st.SetAdminPassword(adminPW))
	_, err = st.AddDomain(testDom)
	must(t, err)
	must(t, st.SetDomainPassword(testDom, domPW))
	must(t, st.SetDomainSwitch(testDom, "smtp", true))
	must(t, st.SetDomainSwitch(testDom, "webmail", true))
	_, err = st.AddUser(testUser, userPW)
	must(t, err)
	e := &env{t: t, st: st, sub: routeSubmitter{st}}
	ui, err := New(Config{Store: st, Events: st.Events, Throttle: st.Throttle, Junk: st.Junk, Submitter: e.sub, Hostname: "mail.doe.test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(t, err)
	e.ui = ui
	e.ts = httptest.NewTLSServer(ui.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// client is one browser: its own cookie jar, no redirect following.
type client struct {
	e    *env
	c    *http.Client
	csrf string
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	// ts.Client() is shared: each browser gets its own client and jar.
	hc := &http.Client{Transport: e.ts.Client().Transport, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &client{e: e, c: hc}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) do(req *http.Request) (*http.Response, string) {
	c.e.t.Helper()
	resp, err := c.c.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := csrfRe.FindStringSubmatch(string(b)); m != nil {
		c.csrf = m[1]
	}
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", c.e.ts.URL+path, nil)
	return c.do(req)
}

// post sends a form; csrf is added unless the form has one already.
func (c *client) post(path string, form url.Values, hdr ...string) (*http.Response, string) {
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf)
	}
	req, _ := http.NewRequest("POST", c.e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.do(req)
}

// login signs in to area ("admin" or "mail") and fails the test if it did not work.
func (c *client) login(area, login, pw string) {
	c.e.t.Helper()
	resp, _ := c.tryLogin(area, login, pw)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/"+area {
		c.e.t.Fatalf("login %s as %s: %d %s", area, login, resp.StatusCode, resp.Header.Get("Location"))
	}
	c.get("/" + area + "/")
	if area == "mail" {
		c.get("/mail/compose")
	}
}

func (c *client) tryLogin(area, login, pw string) (*http.Response, string) {
	c.get("/" + area + "/login")
	return c.post("/"+area+"/login", url.Values{"login": {login}, "password": {pw}})
}

func (c *client) sessionCookie() *http.Cookie {
	u, _ := url.Parse(c.e.ts.URL)
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == "__Host-authsmtp" {
			return ck
		}
	}
	return nil
}

func wantStatus(t testing.TB, what string, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d", what, resp.StatusCode, want)
	}
}

var errNoMsg = errors.New("no message")

// inbox returns the bodies of a user's mailbox, oldest first.
func (e *env) mailbox(addr, name string) []string {
	e.t.Helper()
	msgs, err := e.st.ListMessages(addr, name)
	must(e.t, err)
	var out []string
	for _, m := range msgs {
		b, err := e.st.Body(m.BodyID)
		must(e.t, err)
		out = append(out, string(b))
	}
	return out
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // quiet route listing
	os.Exit(m.Run())
}
