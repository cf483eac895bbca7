package store

import (
	"errors"
	"strings"
	"testing"
)

// TestPasswordPolicy: every store setter applies the one policy, a domain
// password at least as strictly as a user's, with a one-line reason.
func TestPasswordPolicy(t *testing.T) {
	st := authTestStore(t)
	st.AddDomain("doe.com")
	if _, err := st.AddUser("john@doe.com", "Good-user-pass-81"); err != nil {
		t.Fatal(err)
	}
	set := map[string]func(pw string) error{
		"domain password": func(pw string) error { return st.SetDomainPassword("doe.com", pw) },
		"user add":        func(pw string) error { _, err := st.AddUser("jane@doe.com", pw); return err },
		"user password":   func(pw string) error { return st.SetUserPassword("john@doe.com", pw) },
		"admin password":  func(pw string) error { return st.SetAdminPassword(pw) },
	}
	for path, fn := range set {
		for _, tc := range []struct{ pw, why string }{
			{"x", "at least"},
			{"Ab1-x", "at least"},
			{"aaaaaaaaaaaaaaaa", "too easy"},
			{"passwordpassword", "too easy"},
			{"Good-pass\n-81x", "control character"},
			{strings.Repeat("Ab1-", 200), "too long"},
			{"   ", "empty"},
		} {
			err := fn(tc.pw)
			if err == nil || !strings.Contains(err.Error(), tc.why) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s %q: %v, want one line saying %q", path, tc.pw, err, tc.why)
			}
		}
	}
	// 10 characters are enough for a user, not for a domain login.
	if err := st.SetUserPassword("john@doe.com", "Kq7#vZ2!mW"); err != nil {
		t.Errorf("10-character user password: %v", err)
	}
	err := st.SetDomainPassword("doe.com", "Kq7#vZ2!mW")
	if !errors.Is(err, ErrWeakPassword) || !strings.Contains(err.Error(), "12 characters") {
		t.Errorf("10-character domain password: %v", err)
	}
	if err := st.SetDomainPassword("doe.com", "Kq7#vZ2!mW-d"); err != nil {
		t.Errorf("12-character domain password: %v", err)
	}
	// The login name counts against the password.
	if err := st.SetUserPassword("john@doe.com", "john-doe-x-91"); err == nil {
		t.Error("a password made of the login name was accepted")
	}
}
