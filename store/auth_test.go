package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func authTestStore(t testing.TB) *Store {
	t.Helper()
	if os.Getenv("AUTHSMTP_TEST_STORE") == "postgres" {
		return pgTestStore(t)
	}
	st, err := Open(t.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestMaySendAs is the table of the send rule: both login kinds, case,
// www., subdomains, look-alike domains, quoted and plus-addressed local
// parts, Unicode vs punycode, routing forms and the empty sender.
//
// Its last rows are the admin-granted exception: a user login may send as
// an alias of its own domain that names it, and nothing wider.
func TestMaySendAs(t *testing.T) {
	st := authTestStore(t)
	dom := Principal{Kind: KindDomain, Domain: "doe.com"}
	user := Principal{Kind: KindUser, Domain: "doe.com", Address: "john@doe.com"}
	jane := Principal{Kind: KindUser, Domain: "doe.com", Address: "jane@doe.com"}
	other := Principal{Kind: KindUser, Domain: "other.test", Address: "x@other.test"}
	idnDom := Principal{Kind: KindDomain, Domain: "xn--bcher-kva.example"}
	for _, d := range []string{"doe.com", "other.test"} {
		if _, err := st.AddDomain(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"john@doe.com", "jane@doe.com", "x@other.test"} {
		if _, err := st.AddUser(u, "a-Long-pass-42!"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AddAlias("sales@doe.com", []string{"jane@doe.com"}, "john@doe.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddAlias("team@doe.com", []string{"john@doe.com"}, ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		who  Principal
		addr string
		want bool
	}{
		// Domain login: anyone at exactly that domain.
		{dom, "john@doe.com", true},
		{dom, "anyone@doe.com", true},
		{dom, "JOHN@DOE.COM", true},
		{dom, "<john@doe.com>", true},
		{dom, `"john"@doe.com`, true},
		{dom, "alice+tag@doe.com", true},
		{dom, "john@www.doe.com", false}, // www. is dropped from the login, not from addresses
		{dom, "john@a.doe.com", false},
		{dom, "john@doe.com.evil.test", false},
		{dom, "john@evil-doe.com", false},
		{dom, "john@doe.co", false},
		{dom, "john@doe.com.", false},
		{dom, "john@other.test", false},
		{dom, "", false},
		{dom, "doe.com", false},
		{dom, "@doe.com", false},
		{dom, "john@evil.test@doe.com", false},
		{dom, `"john@evil.test"@doe.com`, false},
		{dom, "john%evil.test@doe.com", false},
		{dom, "evil!john@doe.com", false},
		{dom, "<@relay.test:john@doe.com>", false},
		{dom, "john@[127.0.0.1]", false},
		{dom, `"john doe"@doe.com`, false},
		// User login: only its own address.
		{user, "john@doe.com", true},
		{user, "John@Doe.Com", true},
		{user, `"john"@doe.com`, true},
		{user, "jane@doe.com", false},
		{user, "john+tag@doe.com", false},
		{user, "john@other.test", false},
		{user, "john@a.doe.com", false},
		{user, "john@doe.com.evil.test", false},
		{user, "anyone@doe.com", false},
		{user, "", false},
		// Unicode and punycode spellings are one domain.
		{idnDom, "a@bücher.example", true},
		{idnDom, "a@xn--bcher-kva.example", true},
		{idnDom, "a@bucher.example", false},
		// Admin-granted aliases: only the named user of the alias's domain.
		{user, "sales@doe.com", true},
		{user, "Sales@DOE.com", true},
		{jane, "sales@doe.com", false}, // a target is not a sender
		{user, "team@doe.com", false},  // membership grants nothing
		{other, "sales@doe.com", false},
		{dom, "sales@doe.com", true}, // the domain login sends as anyone @doe.com
		{Principal{Kind: KindDomain, Domain: "other.test"}, "sales@doe.com", false},
		// Other kinds send as nobody.
		{Principal{Kind: KindAdmin}, "john@doe.com", false},
		{Principal{Kind: KindAdmin}, "sales@doe.com", false},
		{Principal{}, "john@doe.com", false},
		{Principal{Kind: KindDomain}, "john@doe.com", false},
		{Principal{Kind: KindUser, Domain: "doe.com"}, "john@doe.com", false},
	} {
		if got := st.MaySendAs(tc.who, tc.addr); got != tc.want {
			t.Errorf("MaySendAs(%s %q, %q) = %v, want %v", tc.who.Kind, tc.who.Login(), tc.addr, got, tc.want)
		}
	}
}

func TestSendAsError(t *testing.T) {
	dom := Principal{Kind: KindDomain, Domain: "doe.com"}
	for addr, want := range map[string]string{
		"x@other.test": "doe.com may not send as x@other.test: login doe.com may send as any address @doe.com",
		"":             "doe.com may not send as <>: login doe.com may send as any address @doe.com",
	} {
		if got := SendAsError(dom, addr); got != want {
			t.Errorf("SendAsError(%q) = %q", addr, got)
		}
	}
	user := Principal{Kind: KindUser, Domain: "doe.com", Address: "john@doe.com"}
	if got := SendAsError(user, "jane@doe.com"); !strings.Contains(got, "may send as only john@doe.com") {
		t.Errorf("user: %q", got)
	}
	// A malformed address: what is wrong with it, then the rule.
	for addr, why := range map[string]string{
		"john%evil.test@doe.com":     "routing characters are not allowed in an address",
		"<@relay.test:john@doe.com>": "routing characters are not allowed in an address",
		"john@evil.test@doe.com":     "routing characters are not allowed in an address",
		"john@doe.com.":              "the domain may not end with a dot",
		"john@[127.0.0.1]":           "address literals",
		"john":                       "an address needs a name, an @ and a domain",
	} {
		if got := SendAsError(user, addr); !strings.Contains(got, why) || !strings.Contains(got, "only john@doe.com") {
			t.Errorf("SendAsError(%q) = %q, want it to say %q", addr, got, why)
		}
	}
}

// TestAuthenticate: both login kinds, www. and case, wrong and unknown give
// the same error, the switch is separate, a password change ends the cache.
func TestAuthenticate(t *testing.T) {
	st := authTestStore(t)
	if _, err := st.AddDomain("doe.com"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDomainPassword("doe.com", "Dom-pass-x7Q!z"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddUser("john@doe.com", "Usr-pass-k9W!q"); err != nil {
		t.Fatal(err)
	}
	for _, login := range []string{"doe.com", "DOE.COM", "www.doe.com", " Www.Doe.Com "} {
		p, err := st.Authenticate(login, "Dom-pass-x7Q!z")
		if err != nil || p.Kind != KindDomain || p.Domain != "doe.com" {
			t.Errorf("Authenticate(%q) = %+v, %v", login, p, err)
		}
	}
	p, err := st.Authenticate("John@DOE.com", "Usr-pass-k9W!q")
	if err != nil || p.Kind != KindUser || p.Address != "john@doe.com" || p.Domain != "doe.com" {
		t.Fatalf("user login: %+v %v", p, err)
	}
	for _, c := range [][2]string{{"doe.com", "Usr-pass-k9W!q"}, {"john@doe.com", "Dom-pass-x7Q!z"}, {"ghost@doe.com", "Usr-pass-k9W!q"}, {"nowhere.test", "Dom-pass-x7Q!z"}, {"", ""}, {"not a login", "x"}, {"admin", "x"}} {
		if _, err := st.Authenticate(c[0], c[1]); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Authenticate(%q) = %v, want ErrBadCredentials", c[0], err)
		}
	}
	// The SMTP switch is off until enabled.
	if err := st.CheckSMTP(p); !errors.Is(err, ErrSMTPDisabled) {
		t.Fatalf("CheckSMTP with switch off: %v", err)
	}
	st.SetDomainSwitch("doe.com", "smtp", true)
	if err := st.CheckSMTP(p); err != nil {
		t.Fatal(err)
	}
	// Cached success, then a password change: the old one fails at once.
	if _, err := st.Authenticate("john@doe.com", "Usr-pass-k9W!q"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUserPassword("john@doe.com", "New-pass-r5T!m"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate("john@doe.com", "Usr-pass-k9W!q"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password after change: %v", err)
	}
	if _, err := st.Authenticate("john@doe.com", "New-pass-r5T!m"); err != nil {
		t.Fatal(err)
	}
	// Removal ends it too.
	if err := st.RemoveUser("john@doe.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate("john@doe.com", "New-pass-r5T!m"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("removed user: %v", err)
	}
}

// TestAuthTiming: an unknown login costs about what a wrong password
// costs (a dummy hash run), and a cached success is far cheaper.
func TestAuthTiming(t *testing.T) {
	st := authTestStore(t)
	st.AddDomain("doe.com")
	st.AddUser("john@doe.com", "Usr-pass-k9W!q")
	// Interleaved best-of-9, so both kinds see the same machine load.
	wrong, unknown := time.Hour, time.Hour
	for i := 0; i < 9; i++ {
		start := time.Now()
		st.Authenticate("john@doe.com", "nope")
		wrong = min(wrong, time.Since(start))
		start = time.Now()
		st.Authenticate("ghost@doe.com", "nope")
		unknown = min(unknown, time.Since(start))
	}
	if unknown < wrong/3 || unknown > wrong*3 {
		t.Fatalf("unknown login %v vs wrong password %v: timing tells them apart", unknown, wrong)
	}
	measure := func(login, pw string) time.Duration {
		best := time.Hour
		for i := 0; i < 3; i++ {
			start := time.Now()
			st.Authenticate(login, pw)
			best = min(best, time.Since(start))
		}
		return best
	}
	st.Authenticate("john@doe.com", "Usr-pass-k9W!q")
	if cached := measure("john@doe.com", "Usr-pass-k9W!q"); cached > wrong/5 {
		t.Fatalf("cached login %v not much cheaper than a hash run %v", cached, wrong)
	}
}

// TestLoginThrottle: per IP and per login, a success does not reset
// another IP's counter, blocked logins get ErrThrottled.
// It runs with the counters in memory and in the database (Shared).
func TestLoginThrottle(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testLoginThrottle(t, authTestStore(t)) })
	t.Run("shared", func(t *testing.T) { testLoginThrottle(t, sharedTestStore(t)) })
}

func testLoginThrottle(t *testing.T, st *Store) {
	st.AddDomain("doe.com")
	st.SetDomainSwitch("doe.com", "smtp", true)
	st.AddUser("john@doe.com", "Usr-pass-k9W!q")
	st.Throttle.SetConfig(ThrottleConfig{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, BlockAfter: 3, FreeFailures: 1})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := st.Login(ctx, "smtp", "192.0.2.1", "john@doe.com", "bad"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if _, err := st.Login(ctx, "smtp", "192.0.2.1", "john@doe.com", "Usr-pass-k9W!q"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("blocked IP and login: %v", err)
	}
	if _, err := st.Login(ctx, "imap", "192.0.2.9", "john@doe.com", "Usr-pass-k9W!q"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("blocked login from another IP: %v", err)
	}
	// Another IP fails twice for another login, then succeeds: only its
	// own IP counter is reset; the first IP stays blocked.
	st.AddUser("jane@doe.com", "Jan-pass-h3Y!p")
	for i := 0; i < 2; i++ {
		st.Login(ctx, "web", "192.0.2.2", "jane@doe.com", "bad")
	}
	if _, err := st.Login(ctx, "web", "192.0.2.2", "jane@doe.com", "Jan-pass-h3Y!p"); err != nil {
		t.Fatalf("second IP: %v", err)
	}
	if blocked, _ := st.Throttle.Check("192.0.2.1", "x"); !blocked {
		t.Fatal("a success from another IP unblocked the first")
	}
	if len(st.Throttle.Recent()) != 5 || st.Throttle.Recent()[0].Protocol != "web" {
		t.Fatalf("recent failures: %+v", st.Throttle.Recent())
	}
	if !st.Throttle.Unblock("login:john@doe.com") || !st.Throttle.Unblock("ip:192.0.2.1") {
		t.Fatal("unblock")
	}
	if _, err := st.Login(ctx, "smtp", "192.0.2.1", "john@doe.com", "Usr-pass-k9W!q"); err != nil {
		t.Fatalf("after unblock: %v", err)
	}
	// The delay grows and honours ctx.
	st.Throttle.SetConfig(ThrottleConfig{BaseDelay: time.Millisecond, MaxDelay: time.Hour, BlockAfter: 100, FreeFailures: 1})
	for i := 0; i < 12; i++ { // the delay reaches 64 s
		st.Throttle.Fail("smtp", "192.0.2.3", "slow@doe.com")
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	st.Login(cctx, "smtp", "192.0.2.3", "slow@doe.com", "x")
	// An ignored ctx waits the 64 s delay; the bound leaves room for the
	// shared mode's database writes, which took 2.1 s under load 20.
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("login delay ignored ctx: %v", d)
	}
}
