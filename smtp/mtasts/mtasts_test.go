package mtasts

import (
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
