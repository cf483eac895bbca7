package store

import (
	"errors"
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
	for in, want := range map[string]string{
		"Doe.COM":                 "doe.com",
		" doe.com ":               "doe.com",
		"bücher.example":          "xn--bcher-kva.example",
		"XN--BCHER-KVA.example":   "xn--bcher-kva.example",
		"a-b.doe.com":             "a-b.doe.com",
		"doe.com.":                "",
		"doe":                     "",
		"":                        "",
		"[127.0.0.1]":             "",
		"-doe.com":                "",
		"doe-.com":                "",
		"do_e.com":                "",
		"doe..com":                "",
		"doe.com/x":               "",
		"a.b.c.d.e.f.g.h.doe.com": "a.b.c.d.e.f.g.h.doe.com",
	} {
		got, err := NormalizeDomain(in)
		if want == "" {
			if !errors.Is(err, ErrBadDomain) {
				t.Errorf("NormalizeDomain(%q) = %q, %v; want ErrBadDomain", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestDomainLogin(t *testing.T) {
	for in, want := range map[string]string{"doe.com": "doe.com", "WWW.Doe.Com": "doe.com", "www.www.doe.com": "www.doe.com", "wwwdoe.com": "wwwdoe.com"} {
		if got, err := DomainLogin(in); err != nil || got != want {
			t.Errorf("DomainLogin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := DomainLogin("www."); err == nil {
		t.Error("DomainLogin(www.) accepted")
	}
}

func TestNormalizeAddress(t *testing.T) {
	for in, want := range map[string]string{
		"John@Doe.COM":         "john@doe.com",
		"<john@doe.com>":       "john@doe.com",
		`"john"@doe.com`:       "john@doe.com",
		"john.q+tag@doe.com":   "john.q+tag@doe.com",
		"a@bücher.example":     "a@xn--bcher-kva.example",
		"":                     "",
		"john":                 "",
		"@doe.com":             "",
		"john@":                "",
		"john@doe.com.":        "",
		".john@doe.com":        "",
		"jo..hn@doe.com":       "",
		`"john doe"@doe.com`:   "",
		`"john@x"@doe.com`:     "",
		"john%x@doe.com":       "",
		"x!john@doe.com":       "",
		"<@r.test:john@d.com>": "",
		"john@[127.0.0.1]":     "",
		"john@doe.com@x.test":  "",
		"jo hn@doe.com":        "",
	} {
		got, err := NormalizeAddress(in)
		if want == "" {
			if err == nil {
				t.Errorf("NormalizeAddress(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("NormalizeAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if DomainOf("a@Doe.com") != "doe.com" || DomainOf("bad") != "" {
		t.Error("DomainOf")
	}
}

// TestNormalizeDomainStable: every canonical domain normalizes to itself;
// bytes that are not UTF-8 are refused rather than turned into an A-label
// that is then refused (found by FuzzMailRcptArgs).
func TestNormalizeDomainStable(t *testing.T) {
	for _, d := range []string{"0.\xd20", "bad\xff.test", "\xd2.test"} {
		if a, err := NormalizeDomain(d); err == nil {
			t.Errorf("%q accepted as %q", d, a)
		}
	}
	for _, d := range []string{"Bücher.Example", "xn--bcher-kva.example", "doe.com"} {
		a, err := NormalizeDomain(d)
		if err != nil {
			t.Fatalf("%q: %v", d, err)
		}
		if again, err := NormalizeDomain(a); err != nil || again != a {
			t.Errorf("%q → %q → %q %v", d, a, again, err)
		}
	}
}

// FuzzNames: the name functions never panic, AddressProblem explains
// exactly the addresses NormalizeAddress refuses, and canonical forms are
// fixed points.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"john@doe.com", "a%b@doe.com", "<@r:j@d.com>", `"x y"@d.com`, "www.Shop.Test", "1.2.3.4", "a@[1.2.3.4]", "a@bücher.example", "x@doe.com.", "@", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeAddress(s)
		if why := AddressProblem(s); (why == "") != (err == nil) {
			t.Fatalf("%q: NormalizeAddress err %v, AddressProblem %q", s, err, why)
		}
		if err == nil {
			if n2, err := NormalizeAddress(n); err != nil || n2 != n {
				t.Fatalf("%q → %q → %q, %v", s, n, n2, err)
			}
		}
		if d, err := CanonicalDomain(s); err == nil {
			if d2, err := NormalizeDomain(d); err != nil || d2 != d {
				t.Fatalf("canonical %q → %q → %q, %v", s, d, d2, err)
			}
		}
	})
}
