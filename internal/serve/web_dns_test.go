package serve

import (
	"context"
	"testing"

	"github.com/authsmtp/authsmtp/internal/mailtest"
)

// TestWebDNSRecords checks the DNS page's data: the records of `domain dns`
// and, with check, a live lookup of each against a test DNS server.
func TestWebDNSRecords(t *testing.T) {
	d := mailtest.StartDNS(t)
	cfg := tlsTestConfig(t, "mail.shop.test")
	cfg.DNS = d.Addr
	ts := startTestServer(t, cfg, nil)
	if _, err := ts.srv.st.AddDomain("shop.test"); err != nil {
		t.Fatal(err)
	}
	d.Add(t, "shop.test. MX 10 mail.shop.test.")
	d.AddTXT("shop.test", "v=spf1 mx -all")
	recs, err := ts.srv.webDNS(context.Background(), "shop.test", true)
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]bool{}
	purposes := map[string]bool{}
	for _, r := range recs {
		if !r.Checked {
			t.Fatalf("record %s %s not checked", r.Type, r.Name)
		}
		state[r.Type+" "+r.Name] = r.OK
		purposes[r.Purpose] = true
	}
	if !state["MX shop.test"] {
		t.Error("published MX reported missing")
	}
	if ok, listed := state["HTTPS mta-sts.shop.test"]; !listed || ok {
		t.Error("the MTA-STS policy, served nowhere, is not listed as failing")
	}
	if state["TXT _dmarc.shop.test"] {
		t.Error("unpublished DMARC reported ok")
	}
	for _, p := range []string{"Receive mail", "SPF", "DKIM", "DMARC", "Client setup"} {
		if !purposes[p] {
			t.Errorf("no %s record", p)
		}
	}
	plain, err := ts.srv.webDNS(context.Background(), "shop.test", false)
	if err != nil || len(plain) != len(recs) || plain[0].Checked {
		t.Fatalf("without check: %d records, %v", len(plain), err)
	}
}
