package tlsrpt

import (
	"reflect"
	"strings"
	"testing"
)

func TestRUA(t *testing.T) {
	for _, tc := range []struct {
		txts []string
		want []string
	}{
		{[]string{"v=TLSRPTv1; rua=mailto:tls@example.com"}, []string{"tls@example.com"}},
		{[]string{"v=TLSRPTv1;rua=mailto:a@x.test,https://x.test/r, mailto:b@y.test"}, []string{"a@x.test", "b@y.test"}},
		{[]string{"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@x.test"}, []string{"a@x.test"}},
		{[]string{"v=TLSRPTv2; rua=mailto:a@x.test"}, nil},
		{[]string{"v=TLSRPTv1; rua=https://x.test/"}, nil},
		{[]string{"v=TLSRPTv1; rua=mailto:a@b@c, mailto:<a@x.test>"}, nil},
	} {
		if got := RUA(tc.txts); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("RUA(%q) = %q, want %q", tc.txts, got, tc.want)
		}
	}
}

// FuzzRUA: a _smtp._tls record from anyone's DNS never panics RUA, and
// every address it returns is one plain addr-spec a queue entry can carry.
func FuzzRUA(f *testing.F) {
	f.Add("v=TLSRPTv1; rua=mailto:tls@example.com")
	f.Add("v=TLSRPTv1;rua=mailto:a@x.test,https://x.test/r, mailto:b@y.test")
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range RUA([]string{s}) {
			if strings.Count(a, "@") != 1 || strings.ContainsAny(a, " <>\r\n\",") {
				t.Fatalf("%q gave address %q", s, a)
			}
		}
	})
}
