package webui

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/store"
)

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	resp, body := e.client().get("/healthz")
	wantStatus(t, "healthz", resp, 200)
	if body != "ok\n" {
		t.Fatalf("healthz body %q", body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.client().get("/admin/login")
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("page CSP %q", csp)
	}
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for _, p := range []string{"/static/app.css", "/static/app.js", "/static/icon.svg"} {
		resp, body := c.get(p)
		if resp.StatusCode != 200 || len(body) < 100 || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
			t.Errorf("%s: %d, %d bytes, %q", p, resp.StatusCode, len(body), resp.Header.Get("Cache-Control"))
		}
	}
	if resp, _ := c.get("/static/../webui.go"); resp.StatusCode == 200 {
		t.Error("path traversal out of the static files")
	}
}

func TestLoginSessionCookieAndRotation(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	resp, _ := c.tryLogin("admin", "admin", adminPW)
	wantStatus(t, "admin login", resp, http.StatusSeeOther)
	var raw string
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "__Host-authsmtp=") {
			raw = sc
		}
	}
	for _, attr := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(raw, attr) {
			t.Errorf("session cookie %q lacks %s", raw, attr)
		}
	}
	if strings.Contains(strings.ToLower(raw), "domain=") {
		t.Errorf("session cookie %q has a Domain", raw)
	}
	first := c.sessionCookie().Value
	if len(first) < 40 { // 32 random bytes, base64
		t.Fatalf("session id too short: %q", first)
	}
	if _, ok := e.st.GetSession(first); !ok {
		t.Fatal("session not stored server-side")
	}
	// Logging in again rotates: new id, and the old one is gone.
	c.login("admin", "admin", adminPW)
	second := c.sessionCookie().Value
	if second == first {
		t.Fatal("session id not rotated at login")
	}
	if _, ok := e.st.GetSession(first); ok {
		t.Fatal("old session still valid after a new login")
	}
	// Sign-out ends the session server-side.
	resp, _ = c.post("/admin/logout", nil)
	wantStatus(t, "logout", resp, http.StatusSeeOther)
	if _, ok := e.st.GetSession(second); ok {
		t.Fatal("session alive after sign-out")
	}
	resp, _ = c.get("/admin")
	wantStatus(t, "admin after logout", resp, http.StatusSeeOther)
}

func TestLoginFailuresAndThrottle(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	resp, body := c.tryLogin("mail", testUser, "wrong")
	wantStatus(t, "wrong password", resp, http.StatusUnauthorized)
	if !strings.Contains(body, "Invalid login or password") || strings.Contains(body, "wrong") {
		t.Fatalf("failure page: %s", body)
	}
	resp, _ = c.tryLogin("mail", "nobody@doe.test", "wrong")
	wantStatus(t, "unknown user", resp, http.StatusUnauthorized)
	for i := 0; i < 5; i++ {
		c.tryLogin("mail", testUser, "wrong")
	}
	resp, _ = c.tryLogin("mail", testUser, userPW)
	wantStatus(t, "throttled (right password)", resp, http.StatusTooManyRequests)
	if len(e.st.Throttle.Recent()) == 0 || e.st.Throttle.Recent()[0].Protocol != "web" {
		t.Fatal("web failures not recorded in the shared throttle")
	}
}

func TestLoginWrongArea(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	resp, _ := c.tryLogin("admin", testUser, userPW)
	wantStatus(t, "user login on the admin form", resp, http.StatusForbidden)
	if c.sessionCookie() != nil {
		t.Fatal("a user login got a session from the admin form")
	}
	resp, _ = e.client().tryLogin("mail", "admin", adminPW)
	wantStatus(t, "admin on webmail", resp, http.StatusForbidden)
}

func TestLoginCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	// No token cookie at all (a form posted from elsewhere).
	resp, _ := c.post("/mail/login", url.Values{"login": {testUser}, "password": {userPW}, "csrf": {"forged"}})
	wantStatus(t, "login without token cookie", resp, http.StatusForbidden)
	// Right token, but the browser says the request is cross-site.
	c.get("/mail/login")
	resp, _ = c.post("/mail/login", url.Values{"login": {testUser}, "password": {userPW}}, "Sec-Fetch-Site", "cross-site")
	wantStatus(t, "cross-site login", resp, http.StatusForbidden)
	c.get("/mail/login")
	resp, _ = c.post("/mail/login", url.Values{"login": {testUser}, "password": {userPW}}, "Origin", "https://evil.example")
	wantStatus(t, "evil-origin login", resp, http.StatusForbidden)
	if c.sessionCookie() != nil {
		t.Fatal("a refused login left a session")
	}
}

func TestRedirectHandler(t *testing.T) {
	for _, tc := range []struct{ port, host, path, want string }{
		{"", "mail.doe.test", "/admin?x=1", "https://mail.doe.test/admin?x=1"},
		{"8443", "mail.doe.test:8080", "/mail", "https://mail.doe.test:8443/mail"},
		{"443", "[::1]:80", "/", "https://[::1]/"},
	} {
		rec := newRecorder()
		req, _ := http.NewRequest("GET", "http://"+tc.host+tc.path, nil)
		req.Host = tc.host
		RedirectHandler(tc.port).ServeHTTP(rec, req)
		if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != tc.want {
			t.Errorf("%s%s → %d %s, want %s", tc.host, tc.path, rec.Code, rec.Header().Get("Location"), tc.want)
		}
	}
}

// TestLoginWrongAreaNoOracle (issue 10 item 6): a login that cannot use
// the area gets the same answer with a right and a wrong password.
func TestLoginWrongAreaNoOracle(t *testing.T) {
	e := newEnv(t)
	for _, c := range [][3]string{{"admin", testUser, userPW}, {"mail", "admin", adminPW}, {"mail", " ADMIN ", adminPW}} {
		right, rb := e.client().tryLogin(c[0], c[1], c[2])
		wrong, wb := e.client().tryLogin(c[0], c[1], "not-the-password")
		if right.StatusCode != http.StatusForbidden || wrong.StatusCode != right.StatusCode || flash(rb) != flash(wb) {
			t.Errorf("%s on %s: right password %d %q, wrong %d %q", c[1], c[0], right.StatusCode, flash(rb), wrong.StatusCode, flash(wb))
		}
	}
}

// flash is the sign-in page's message.
func flash(body string) string {
	for _, m := range []string{"cannot use the admin panel", "has no mailbox", "Invalid login or password", "Too many failed"} {
		if strings.Contains(body, m) {
			return m
		}
	}
	return ""
}

// TestWebThrottleCanonicalLogin (item 4): guesses recorded over SMTP from
// another address against one spelling block every spelling on the web
// (429).
func TestWebThrottleCanonicalLogin(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		e.st.Login(context.Background(), store.ProtoSMTP, "192.0.2.44", testUser, "wrong")
	}
	upper := strings.ToUpper(testUser)
	for _, l := range []string{upper, "<" + testUser + ">", " " + testUser} {
		resp, _ := e.client().tryLogin("mail", l, userPW)
		wantStatus(t, "blocked login spelled "+l, resp, http.StatusTooManyRequests)
	}
}
