package dnsx

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
)

func TestMailHostsAndCache(t *testing.T) {
	d := mailtest.StartDNS(t)
	d.Add(t, "m.test. 60 IN MX 20 mx2.m.test.", "m.test. 60 IN MX 10 mx1.m.test.",
		"mx1.m.test. 60 IN A 127.0.0.1", "mx2.m.test. 60 IN A 127.0.0.2",
		"noma.test. 60 IN A 127.0.0.3", "null.test. 60 IN MX 0 .")
	r, err := New(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hs, err := r.MailHosts(ctx, "m.test")
	if err != nil || len(hs) != 2 || hs[0].Name != "mx1.m.test" || hs[1].Addrs[0] != "127.0.0.2" {
		t.Fatalf("MailHosts(m.test) = %+v, %v", hs, err)
	}
	if hs, err := r.MailHosts(ctx, "noma.test"); err != nil || hs[0].Name != "noma.test" {
		t.Errorf("implicit MX = %+v, %v", hs, err)
	}
	if _, err := r.MailHosts(ctx, "null.test"); !errors.Is(err, ErrNullMX) {
		t.Errorf("null MX: %v", err)
	}
	if _, err := r.MailHosts(ctx, "nx.test"); !errors.Is(err, ErrNoMailDomain) {
		t.Errorf("no such domain: %v", err)
	}
	// Answers, including "no such name", come from the cache.
	r.LookupTXT(ctx, "t.test")
	n := d.Queries()
	d.AddTXT("t.test", "v=spf1 -all")
	if _, err := r.LookupTXT(ctx, "t.test"); !IsNotFound(err) || d.Queries() != n {
		t.Errorf("negative answer not cached: %v, %d queries", err, d.Queries()-n)
	}
	r.CacheTTL = 0
	r.cache = answerCache{}
	if v, err := r.LookupTXT(ctx, "t.test"); err != nil || v[0] != "v=spf1 -all" {
		t.Errorf("uncached = %v, %v", v, err)
	}
	_ = time.Second
}
