package webui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Every route of the admin panel and webmail, with a method.
var adminRoutes = []struct{ method, path string }{
	{"GET", "/admin"}, {"GET", "/admin/domains"}, {"POST", "/admin/domains"},
	{"GET", "/admin/domains/doe.test"}, {"POST", "/admin/domains/doe.test/remove"},
	{"POST", "/admin/domains/doe.test/switch"}, {"POST", "/admin/domains/doe.test/password"},
	{"GET", "/admin/domains/doe.test/users"}, {"GET", "/admin/domains/doe.test/spam"}, {"POST", "/admin/domains/doe.test/users"},
	{"POST", "/admin/domains/doe.test/users/remove"}, {"POST", "/admin/domains/doe.test/users/password"},
	{"POST", "/admin/domains/doe.test/users/quota"}, {"POST", "/admin/domains/doe.test/users/forward"},
	{"POST", "/admin/domains/doe.test/users/vacation"},
	{"POST", "/admin/domains/doe.test/catchall"}, {"POST", "/admin/domains/doe.test/postmaster"}, {"POST", "/admin/domains/doe.test/aliases"},
	{"POST", "/admin/domains/doe.test/aliases/remove"}, {"GET", "/admin/domains/doe.test/dns"},
	{"GET", "/admin/queue"}, {"GET", "/admin/queue/0000000000000001"},
	{"POST", "/admin/queue/0000000000000001/retry"}, {"POST", "/admin/queue/0000000000000001/delete"},
	{"GET", "/admin/security"}, {"POST", "/admin/security/unblock"},
	{"GET", "/admin/password"}, {"POST", "/admin/password"},
}

var mailRoutes = []struct{ method, path string }{
	{"GET", "/mail/compose"}, {"POST", "/mail/compose"},
	{"GET", "/mail/folder?name=INBOX"}, {"GET", "/mail/msg?folder=INBOX&uid=1"},
	{"GET", "/mail/msg/body?folder=INBOX&uid=1"}, {"GET", "/mail/msg/part?folder=INBOX&uid=1&part=0"},
	{"GET", "/mail/password"}, {"POST", "/mail/password"},
	{"POST", "/mail/msg/flags"}, {"POST", "/mail/msg/move"}, {"POST", "/mail/msg/delete"},
}

// userOnly are mail routes a domain login (no mailbox) may not use.
func userOnly(path string) bool { return !strings.HasPrefix(path, "/mail/compose") }

func (c *client) raw(method, path string, form url.Values, hdr ...string) *http.Response {
	if method == "GET" {
		req, _ := http.NewRequest("GET", c.e.ts.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, _ := c.do(req)
		return resp
	}
	resp, _ := c.post(path, form, hdr...)
	return resp
}

func TestRoutesRefused(t *testing.T) {
	e := newEnv(t)
	anon := e.client()
	admin := e.client()
	admin.login("admin", "admin", adminPW)
	user := e.client()
	user.login("mail", testUser, userPW)
	dom := e.client()
	dom.login("mail", testDom, domPW)

	for _, r := range adminRoutes {
		// No session: GETs go to the login form, POSTs are refused.
		resp := anon.raw(r.method, r.path, url.Values{"csrf": {"x"}})
		if r.method == "GET" {
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
				t.Errorf("no session %s %s: %d %s", r.method, r.path, resp.StatusCode, resp.Header.Get("Location"))
			}
		} else if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("no session %s %s: %d, want 401", r.method, r.path, resp.StatusCode)
		}
		// A user or domain login reaching /admin.
		for name, c := range map[string]*client{"user": user, "domain": dom} {
			if resp := c.raw(r.method, r.path, nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s login %s %s: %d, want 403", name, r.method, r.path, resp.StatusCode)
			}
		}
		if r.method == "POST" {
			// Admin, but no CSRF token / a wrong one.
			if resp := admin.raw("POST", r.path, url.Values{"csrf": {""}}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("admin without csrf %s: %d, want 403", r.path, resp.StatusCode)
			}
			if resp := admin.raw("POST", r.path, url.Values{"csrf": {"AAAA" + admin.csrf[4:]}}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("admin wrong csrf %s: %d, want 403", r.path, resp.StatusCode)
			}
			// Cross-site, even with the right token.
			for _, h := range [][]string{{"Origin", "https://evil.example"}, {"Sec-Fetch-Site", "cross-site"}} {
				if resp := admin.raw("POST", r.path, nil, h...); resp.StatusCode != http.StatusForbidden {
					t.Errorf("admin cross-site (%s) %s: %d, want 403", h[0], r.path, resp.StatusCode)
				}
			}
		} else {
			// GET never changes state; it must answer the admin.
			if resp := admin.raw("GET", r.path, nil); resp.StatusCode >= 500 {
				t.Errorf("admin GET %s: %d", r.path, resp.StatusCode)
			}
		}
	}
	for _, r := range mailRoutes {
		resp := anon.raw(r.method, r.path, url.Values{"csrf": {"x"}})
		if r.method == "GET" {
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/mail/login" {
				t.Errorf("no session %s %s: %d %s", r.method, r.path, resp.StatusCode, resp.Header.Get("Location"))
			}
		} else if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("no session %s %s: %d, want 401", r.method, r.path, resp.StatusCode)
		}
		if resp := admin.raw(r.method, r.path, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("admin on webmail %s %s: %d, want 403", r.method, r.path, resp.StatusCode)
		}
		if userOnly(r.path) {
			if resp := dom.raw(r.method, r.path, nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("domain login %s %s: %d, want 403", r.method, r.path, resp.StatusCode)
			}
		}
		if r.method == "POST" {
			if resp := user.raw("POST", r.path, url.Values{"csrf": {""}}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("user without csrf %s: %d, want 403", r.path, resp.StatusCode)
			}
			for _, h := range [][]string{{"Origin", "https://evil.example"}, {"Sec-Fetch-Site", "cross-site"}} {
				if resp := user.raw("POST", r.path, nil, h...); resp.StatusCode != http.StatusForbidden {
					t.Errorf("user cross-site (%s) %s: %d, want 403", h[0], r.path, resp.StatusCode)
				}
			}
		}
	}
	// Nothing above changed state.
	if d, _ := e.st.GetDomain(testDom); !d.SMTP || !d.Webmail {
		t.Fatal("a refused request changed the domain")
	}
	if _, err := e.st.GetUser(testUser); err != nil {
		t.Fatal("a refused request removed the user")
	}
}
