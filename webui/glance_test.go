package webui

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/internal/dnsrecords"
	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
)

// TestAdminDashboardGlance: the dashboard's deliverability card runs the
// DNS page's live check (dnsrecords.For and Check, as `domain dns --check`
// does) against a test DNS server: the published SPF record is marked ok,
// the unpublished DMARC record missing, each linking to the DNS page; and
// one line says our outbound address is listed, from the Spam tab's data.
func TestAdminDashboardGlance(t *testing.T) {
	e := newEnv(t)
	d := mailtest.StartDNS(t)
	d.Add(t, testDom+". MX 10 mail."+testDom+".")
	d.AddTXT(testDom, "v=spf1 mx -all")
	res, err := dnsx.New(d.Addr)
	must(t, err)
	calls := 0
	check := func(_ context.Context, domain string, check bool) ([]DNSRecord, error) {
		calls++
		recs, err := dnsrecords.For(e.st, domain, "mail."+domain, dnsrecords.Ports{})
		if err != nil {
			return nil, err
		}
		var out []DNSRecord
		for _, r := range recs {
			state := dnsrecords.Check(res, r)
			out = append(out, DNSRecord{Type: r.Type, Name: r.Name, Purpose: r.Purpose(), Checked: true, OK: state == "ok", Found: state})
		}
		return out, nil
	}
	lists := func() DNSLists {
		return DNSLists{OwnIP: "192.0.2.10", OwnIPFrom: "--outbound-ip", Own: []OwnListing{{Zone: "bl.test", Listed: true}, {Zone: "ok.test"}}}
	}
	ui, err := New(Config{Store: e.st, Events: e.st.Events, Throttle: e.st.Throttle, Junk: e.st.Junk, DNS: check, DNSLists: lists})
	must(t, err)
	e.ts.Close()
	e.ts = httptest.NewTLSServer(ui.Handler())
	defer e.ts.Close()
	c := e.client()
	c.login("admin", "admin", adminPW)
	_, body := c.get("/admin")
	row := regexp.MustCompile(`<tr data-domain="` + regexp.QuoteMeta(testDom) + `">.*?</tr>`).FindString(body)
	if row == "" {
		t.Fatalf("no deliverability row for %s in:\n%s", testDom, body)
	}
	for _, want := range []string{"SPF ok", "DMARC missing", "glance-ok", "glance-missing", `href="/admin/domains/` + testDom + `/dns?check=1"`} {
		if !strings.Contains(row, want) {
			t.Errorf("row lacks %q: %s", want, row)
		}
	}
	own := regexp.MustCompile(`<p class="small" id="dash-own-ip">.*?</p>`).FindString(body)
	if !strings.Contains(own, "192.0.2.10") || !strings.Contains(own, "listed</strong> on bl.test") {
		t.Errorf("outbound listing line wrong: %q", own)
	}
	// A second view within the cache time does not check again.
	c.get("/admin")
	if calls != 1 {
		t.Errorf("%d DNS checks for two views; want 1 (cached)", calls)
	}
}
