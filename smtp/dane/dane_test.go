package dane

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
)

func TestVerify(t *testing.T) {
	now := time.Now()
	ca := mailtest.NewCA(t, "Test TA")
	good := ca.Leaf(t, now.Add(-time.Hour), now.Add(time.Hour), "mx.remote.test")
	expired := ca.Leaf(t, now.Add(-2*time.Hour), now.Add(-time.Hour), "mx.remote.test")
	other := mailtest.NewCA(t, "Other").Leaf(t, now.Add(-time.Hour), now.Add(time.Hour), "mx.remote.test")
	names := []string{"mx.remote.test", "remote.test"}

	for _, c := range []struct {
		name    string
		records []dnsx.TLSA
		chain   [][]byte
		names   []string
		want    string // "" accepted, else the result type
	}{
		{"EE spki sha256", []dnsx.TLSA{Record(3, 1, 1, good.Leaf)}, good.Certificate, names, ""},
		{"EE cert full", []dnsx.TLSA{Record(3, 0, 0, good.Leaf)}, good.Certificate, names, ""},
		{"EE cert sha512", []dnsx.TLSA{Record(3, 0, 2, good.Leaf)}, good.Certificate, names, ""},
		{"EE ignores names and dates", []dnsx.TLSA{Record(3, 1, 1, expired.Leaf)}, expired.Certificate, []string{"elsewhere.test"}, ""},
		{"EE other key", []dnsx.TLSA{Record(3, 1, 1, good.Leaf)}, other.Certificate, names, ResultValidationFailure},
		{"TA cert sha256", []dnsx.TLSA{Record(2, 0, 1, ca.Cert)}, good.Certificate, names, ""},
		{"TA spki full", []dnsx.TLSA{Record(2, 1, 0, ca.Cert)}, good.Certificate, names, ""},
		{"TA next-hop name", []dnsx.TLSA{Record(2, 0, 1, ca.Cert)}, good.Certificate, []string{"mx.elsewhere.test", "mx.remote.test"}, ""},
		{"TA wrong name", []dnsx.TLSA{Record(2, 0, 1, ca.Cert)}, good.Certificate, []string{"mx.elsewhere.test"}, ResultHostMismatch},
		{"TA expired", []dnsx.TLSA{Record(2, 0, 1, ca.Cert)}, expired.Certificate, names, ResultExpired},
		{"TA other CA", []dnsx.TLSA{Record(2, 0, 1, ca.Cert)}, other.Certificate, names, ResultValidationFailure},
		{"second record matches", []dnsx.TLSA{Record(3, 1, 1, other.Leaf), Record(3, 1, 1, good.Leaf)}, good.Certificate, names, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			chain := parseChain(t, c.chain)
			err := Verify(c.records, chain, c.names, now)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var de *Error
			if !errors.As(err, &de) || de.Result != c.want {
				t.Fatalf("err = %v, want result %s", err, c.want)
			}
		})
	}
}

func TestUsable(t *testing.T) {
	ca := mailtest.NewCA(t, "TA")
	ok := []dnsx.TLSA{Record(3, 1, 1, ca.Cert), Record(2, 0, 2, ca.Cert), Record(3, 0, 0, ca.Cert)}
	bad := []dnsx.TLSA{
		Record(0, 1, 1, ca.Cert), // PKIX-TA
		Record(1, 1, 1, ca.Cert), // PKIX-EE
		{Usage: 3, Selector: 2, MatchingType: 1, Data: make([]byte, 32)},
		{Usage: 3, Selector: 1, MatchingType: 3, Data: make([]byte, 32)},
		{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 31)},
		{Usage: 3, Selector: 1, MatchingType: 0},
	}
	if got := Usable(append(bad, ok...)); len(got) != len(ok) {
		t.Fatalf("Usable kept %d records, want %d: %v", len(got), len(ok), got)
	}
	if got := Usable(bad); len(got) != 0 {
		t.Fatalf("Usable kept unusable records: %v", got)
	}
}

func parseChain(t *testing.T, ders [][]byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}
