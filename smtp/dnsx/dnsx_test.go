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
	uncached, _ := New(d.Addr)
	uncached.CacheTTL = 0
	if v, err := uncached.LookupTXT(ctx, "t.test"); err != nil || v[0] != "v=spf1 -all" {
		t.Errorf("uncached = %v, %v", v, err)
	}
	_ = time.Second
}

func TestLookupTLSAAndSecure(t *testing.T) {
	d := mailtest.StartDNS(t)
	d.Add(t, "remote.test. 60 IN MX 10 mx.remote.test.", "mx.remote.test. 60 IN A 127.0.0.1",
		"_25._tcp.mx.remote.test. 60 IN TLSA 3 1 1 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
	r, err := New(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Without --dnssec nothing is asked and nothing is secure.
	if recs, sec, err := r.LookupTLSA(ctx, "mx.remote.test", 25); recs != nil || sec || err != nil {
		t.Fatalf("without DNSSEC: %v %v %v", recs, sec, err)
	}
	d.SetAD(true)
	if sec, _ := r.SecureMX(ctx, "remote.test"); sec {
		t.Fatal("AD counted without --dnssec")
	}
	r.DNSSEC = true
	recs, sec, err := r.LookupTLSA(ctx, "mx.remote.test.", 25)
	if err != nil || !sec || len(recs) != 1 || recs[0].Usage != 3 || len(recs[0].Data) != 32 || recs[0].Data[31] != 0x20 {
		t.Fatalf("LookupTLSA = %v %v %v", recs, sec, err)
	}
	if sec, err := r.SecureMX(ctx, "remote.test"); !sec || err != nil {
		t.Fatalf("SecureMX = %v %v", sec, err)
	}
	// A secure denial: no records, no error.
	if recs, sec, err := r.LookupTLSA(ctx, "mx.other.test", 25); len(recs) != 0 || !sec || err != nil {
		t.Fatalf("NXDOMAIN TLSA = %v %v %v", recs, sec, err)
	}
	d.SetAD(false)
	if _, sec, _ := r.LookupTLSA(ctx, "mx.remote.test", 25); sec {
		t.Fatal("an answer without AD counted as secure")
	}
}

// SecureHost follows the MX host's CNAME chain to the name its address
// is at (the TLSA base domain when the chain is secure, RFC 7672 §2.2.2).
func TestSecureHostFollowsCNAME(t *testing.T) {
	d := mailtest.StartDNS(t)
	d.Add(t, "mx.remote.test. 60 IN CNAME mail.hosting.test.", "mail.hosting.test. 60 IN CNAME mx1.hosting.test.",
		"mx1.hosting.test. 60 IN A 127.0.0.1", "mx.plain.test. 60 IN A 127.0.0.1",
		"loop1.test. 60 IN CNAME loop2.test.", "loop2.test. 60 IN CNAME loop1.test.")
	r, err := New(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	r.DNSSEC = true
	d.SetAD(true)
	ctx := context.Background()
	for host, want := range map[string]string{"mx.remote.test": "mx1.hosting.test", "MX.Plain.test.": "mx.plain.test"} {
		if got, sec, err := r.SecureHost(ctx, host); got != want || !sec || err != nil {
			t.Errorf("SecureHost(%s) = %q %v %v, want %q secure", host, got, sec, err, want)
		}
	}
	if _, _, err := r.SecureHost(ctx, "loop1.test"); err != nil {
		t.Errorf("a CNAME loop: %v", err)
	}
	d.SetAD(false)
	if got, sec, _ := r.SecureHost(ctx, "mx.remote.test"); sec || got != "mx1.hosting.test" {
		t.Errorf("insecure chain: %q %v", got, sec)
	}
}
