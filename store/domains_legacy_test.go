package store

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/store/kv"
)

// TestCanonicalDomain: one function for every entry point.
func TestCanonicalDomain(t *testing.T) {
	for in, want := range map[string]string{
		"www.Shop.Test":             "shop.test",
		" WWW.shop.test ":           "shop.test",
		"shop.test":                 "shop.test",
		"www.xn--bcher-kva.example": "xn--bcher-kva.example",
		"www.bücher.example":        "xn--bcher-kva.example",
		"wwwshop.test":              "wwwshop.test",
		"1.2.3.4":                   "",
		"www.1.2.3.4":               "",
		"[1.2.3.4]":                 "",
		"shop.test.":                "",
		"-bad-.com":                 "",
		"www.":                      "",
		"www.com":                   "",
		"not a domain":              "",
		"192.168.0.1.nip.io":        "192.168.0.1.nip.io",
		"::1":                       "",
	} {
		got, err := CanonicalDomain(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("CanonicalDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestWWWDomainsOfOlderFile builds a file as an older version wrote it
// (domains stored with their www.) and opens it: an empty www. domain is
// renamed with its settings, one that duplicates a domain is dropped, one
// with users is left and reported, and its users keep its own switches.
func TestWWWDomainsOfOlderFile(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	st.AddDomain("dup.test")
	st.AddDomain("keep.test")
	st.SetDomainSwitch("keep.test", "smtp", true)
	st.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketDomains)
		putJSON(b, "www.shop.test", Domain{Name: "www.shop.test", SMTP: true, Limits: SendLimits{PerHour: 7}})
		putJSON(b, "www.dup.test", Domain{Name: "www.dup.test"})
		putJSON(b, "www.keep.test", Domain{Name: "www.keep.test", SMTP: false})
		return putJSON(tx.Bucket(bucketUsers), "u@www.keep.test", User{Address: "u@www.keep.test"})
	})
	st.Close()

	var logs bytes.Buffer
	st, err = Open(dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds, _ := st.ListDomains()
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	if got := strings.Join(names, " "); got != "dup.test keep.test shop.test www.keep.test" {
		t.Fatalf("domains after Open: %s", got)
	}
	shop, err := st.GetDomain("www.shop.test")
	if err != nil || shop.Name != "shop.test" || !shop.SMTP || shop.Limits.PerHour != 7 {
		t.Errorf("renamed domain: %+v %v", shop, err)
	}
	if !strings.Contains(logs.String(), "www.keep.test") || !strings.Contains(logs.String(), "user remove") {
		t.Errorf("the domain left as it was is not reported with what to do:\n%s", logs.String())
	}
	// u@www.keep.test is judged by www.keep.test's switch (off), not keep.test's (on).
	u := Principal{Kind: KindUser, Domain: "www.keep.test", Address: "u@www.keep.test"}
	if st.CheckSMTP(u) == nil {
		t.Error("u@www.keep.test may send by keep.test's switch")
	}
	if st.MaySendAs(Principal{Kind: KindDomain, Domain: "keep.test"}, "u@www.keep.test") {
		t.Error("keep.test's login may send as u@www.keep.test")
	}
}

// TestDomainNamesEverywhere: add, get, password, switch, remove and list
// all read the name through CanonicalDomain.
func TestDomainNamesEverywhere(t *testing.T) {
	st := authTestStore(t)
	if d, err := st.AddDomain("www.Shop.Test"); err != nil || d.Name != "shop.test" {
		t.Fatalf("AddDomain(www.Shop.Test) = %+v, %v", d, err)
	}
	if _, err := st.AddDomain("shop.test"); err == nil {
		t.Error("shop.test added twice")
	}
	if _, err := st.AddDomain("1.2.3.4"); err == nil || !strings.Contains(err.Error(), "IP address") {
		t.Errorf("AddDomain(1.2.3.4): %v", err)
	}
	if err := st.SetDomainSwitch("WWW.shop.test", "smtp", true); err != nil {
		t.Error(err)
	}
	if err := st.SetDomainPassword("www.shop.test", "Shop-domain-pass-77"); err != nil {
		t.Error(err)
	}
	if _, err := st.Authenticate("www.shop.test", "Shop-domain-pass-77"); err != nil {
		t.Error(err)
	}
	if _, err := st.ListUsers("www.shop.test"); err != nil {
		t.Error(err)
	}
	if _, err := st.AddUser("u@www.shop.test", "A-user-pass-881"); err == nil {
		t.Error("a user at www.shop.test was added to shop.test's domain")
	}
	if err := st.RemoveDomain("www.shop.test"); err != nil {
		t.Error(err)
	}
	if ds, _ := st.ListDomains(); len(ds) != 0 {
		t.Errorf("left: %+v", ds)
	}
}
