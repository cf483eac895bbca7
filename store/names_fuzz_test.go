package store

import (
	"testing"
	"unicode/utf8"
)

// FuzzCanonicalLogin: any login string (it comes from SMTP AUTH, IMAP
// LOGIN and the web form) maps to one canonical form without panicking;
// the form is stable (canonical of canonical is itself), ASCII for
// addresses, and agrees with NormalizeAddress.
func FuzzCanonicalLogin(f *testing.F) {
	for _, s := range []string{"vb5@demo.test", "VB5@demo.test", " <vb5@demo.test>", `"vb5"@demo.test`, "www.Demo.Test",
		"admin", "ALİCE@demo.test", "\u212Aate@demo.test", "a@bücher.example", "@", "", "\"@\"@x.y", "x@[1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, login string) {
		canon, kind, ok := CanonicalLogin(login)
		if !ok {
			if kind != KindNone {
				t.Fatalf("%q: not ok but kind %v", login, kind)
			}
			return
		}
		again, kind2, ok2 := CanonicalLogin(canon)
		if again != canon || kind2 != kind || !ok2 {
			t.Fatalf("%q → %q → %q (%v %v)", login, canon, again, kind, kind2)
		}
		if kind == KindUser {
			a, err := NormalizeAddress(login)
			if err != nil || a != canon {
				t.Fatalf("%q: NormalizeAddress %q %v, CanonicalLogin %q", login, a, err, canon)
			}
			for i := 0; i < len(canon); i++ {
				if canon[i] >= utf8.RuneSelf || 'A' <= canon[i] && canon[i] <= 'Z' {
					t.Fatalf("%q: canonical %q is not lower-case ASCII", login, canon)
				}
			}
		}
	})
}
