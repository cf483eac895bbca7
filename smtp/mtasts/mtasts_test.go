package mtasts

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPolicyRoundTrip(t *testing.T) {
	for _, mode := range []string{ModeNone, ModeTesting, ModeEnforce} {
		p := For(mode, "mail.shop.test.")
		got, err := Parse(p.Text())
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, p.Text())
		}
		if got.Mode != mode || len(got.MX) != 1 || got.MX[0] != "mail.shop.test" || got.MaxAge != p.MaxAge {
			t.Fatalf("%s: parsed %+v", mode, got)
		}
	}
	if For(ModeEnforce, "m").MaxAge != 604800 || For("", "m").Mode != ModeTesting {
		t.Fatal("defaults changed")
	}
	if For(ModeTesting, "m").ID() == For(ModeEnforce, "m").ID() || For(ModeTesting, "m").ID() == For(ModeTesting, "n").ID() {
		t.Fatal("id does not follow the policy")
	}
	if id := For(ModeTesting, "m").ID(); len(id) > 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("id %q is not 1-32 alphanumerics", id)
	}
}

func TestParseStrict(t *testing.T) {
	good := "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\next: ignored\n"
	if p, err := Parse(good); err != nil || len(p.MX) != 2 {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{
		"",
		"mode: enforce\nversion: STSv1\nmx: a.test\nmax_age: 1\n",
		"version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",
		"version: STSv1\nmode: sure\nmx: a.test\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.test\n",
		"version: STSv1\nmode: enforce\nmode: none\nmx: a.test\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a..test\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n",
		"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 99999999999\n",
		"version: STSv1\nmode: enforce\ngarbage\nmx: a.test\nmax_age: 1\n",
	} {
		if p, err := Parse(bad); err == nil {
			t.Errorf("accepted %q as %+v", bad, p)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts survives a
// write and a second parse unchanged.
func FuzzParse(f *testing.F) {
	f.Add("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n")
	f.Add("version: STSv1\nmode: none\nmax_age: 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		q, err := Parse(p.Text())
		if err != nil || q.Mode != p.Mode || q.MaxAge != p.MaxAge || len(q.MX) != len(p.MX) {
			t.Fatalf("%q: reparse %+v %v", s, q, err)
		}
	})
}

func TestMatches(t *testing.T) {
	p, err := Parse("version: STSv1\r\nmode: testing\r\nmx: mx1.x.test\r\nmx: *.y.test\r\nmax_age: 600\r\n")
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{"mx1.x.test": true, "MX1.X.TEST.": true, "a.y.test": true, "a.b.y.test": false, "y.test": false, "mx2.x.test": false} {
		if p.Matches(host) != want {
			t.Errorf("Matches(%q) = %v", host, !want)
		}
	}
}

// policyServer serves body as mta-sts.shop.test's policy over TLS and
// returns a client that reaches it and trusts it.
func policyServer(t *testing.T, ctype, body string, status int) *http.Client {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "mta-sts.shop.test" || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c := srv.Client()
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig.ServerName = "example.com" // the name in httptest's certificate
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	return c
}

func TestFetch(t *testing.T) {
	good := For(ModeEnforce, "mail.shop.test").Text()
	c := policyServer(t, "text/plain; charset=utf-8", good, 200)
	p, text, err := Fetch(context.Background(), c, "shop.test")
	if err != nil || p.Mode != ModeEnforce || text != good {
		t.Fatalf("Fetch = %+v %q %v", p, text, err)
	}
	var inv *InvalidError
	if _, _, err := Fetch(context.Background(), policyServer(t, "text/plain", "version: STSv1\nmode: enforce\n", 200), "shop.test"); !errors.As(err, &inv) {
		t.Fatalf("invalid policy: %v, want InvalidError", err)
	}
	if _, _, err := Fetch(context.Background(), policyServer(t, "text/html", good, 200), "shop.test"); !errors.As(err, &inv) {
		t.Fatalf("text/html: %v, want InvalidError", err)
	}
	if _, _, err := Fetch(context.Background(), policyServer(t, "", good, 404), "shop.test"); err == nil || errors.As(err, &inv) {
		t.Fatalf("404: %v, want a fetch error", err)
	}
	if _, _, err := Fetch(context.Background(), policyServer(t, "", strings.Repeat("x: y\n", MaxSize), 200), "shop.test"); !errors.As(err, &inv) {
		t.Fatalf("oversized: %v", err)
	}
}
