package tlsrpt

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestRUA(t *testing.T) {
	for _, tc := range []struct {
		txts []string
		want Destinations
	}{
		{[]string{"v=TLSRPTv1; rua=mailto:tls@example.com"}, Destinations{Mail: []string{"tls@example.com"}}},
		{[]string{"v=TLSRPTv1;rua=mailto:a@x.test,https://x.test/r, mailto:b@y.test"},
			Destinations{Mail: []string{"a@x.test", "b@y.test"}, HTTPS: []string{"https://x.test/r"}}},
		{[]string{"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@x.test"}, Destinations{Mail: []string{"a@x.test"}}},
		{[]string{"v=TLSRPTv2; rua=mailto:a@x.test"}, Destinations{}},
		{[]string{"v=TLSRPTv1; rua=https://x.test:8443/tls?d=1"}, Destinations{HTTPS: []string{"https://x.test:8443/tls?d=1"}}},
		{[]string{"v=TLSRPTv1; rua=http://x.test/, https://u:p@x.test/, https:///path, https://x.test/#f, ftp://x.test/"}, Destinations{}},
		{[]string{"v=TLSRPTv1; rua=https://x.test/" + strings.Repeat("a", maxRUAURL)}, Destinations{}},
		{[]string{"v=TLSRPTv1; rua=mailto:a@b@c, mailto:<a@x.test>"}, Destinations{}},
	} {
		if got := RUA(tc.txts); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("RUA(%q) = %q, want %q", tc.txts, got, tc.want)
		}
	}
}

// FuzzRUA: a _smtp._tls record from anyone's DNS never panics RUA, every
// address it returns is one plain addr-spec a queue entry can carry, and
// every URL an https: URL with a host, no user and a bounded length.
func FuzzRUA(f *testing.F) {
	f.Add("v=TLSRPTv1; rua=mailto:tls@example.com")
	f.Add("v=TLSRPTv1;rua=mailto:a@x.test,https://x.test/r, mailto:b@y.test")
	f.Add("v=TLSRPTv1;rua=https://u@x.test:99/r?q#f")
	f.Fuzz(func(t *testing.T, s string) {
		d := RUA([]string{s})
		for _, a := range d.Mail {
			if strings.Count(a, "@") != 1 || strings.ContainsAny(a, " <>\r\n\",") {
				t.Fatalf("%q gave address %q", s, a)
			}
		}
		for _, u := range d.HTTPS {
			p, err := url.Parse(u)
			if err != nil || p.Scheme != "https" || p.Hostname() == "" || p.User != nil || len(u) > maxRUAURL {
				t.Fatalf("%q gave URL %q", s, u)
			}
		}
	})
}
