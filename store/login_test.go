package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCanonicalLogin: every spelling of one account is one login, and
// Unicode look-alikes of ASCII letters are not folded into it.
func TestCanonicalLogin(t *testing.T) {
	for _, in := range []string{"vb5@demo.test", "VB5@demo.test", "vb5@DEMO.TEST", " vb5@demo.test", "<vb5@demo.test>", `"vb5"@demo.test`, "Vb5@Demo.Test "} {
		if got, kind, ok := CanonicalLogin(in); got != "vb5@demo.test" || kind != KindUser || !ok {
			t.Errorf("CanonicalLogin(%q) = %q, %v, %v", in, got, kind, ok)
		}
	}
	for _, in := range []string{"demo.test", "DEMO.test", "www.demo.test", " WWW.Demo.Test"} {
		if got, kind, _ := CanonicalLogin(in); got != "demo.test" || kind != KindDomain {
			t.Errorf("CanonicalLogin(%q) = %q, %v", in, got, kind)
		}
	}
	if got, kind, _ := CanonicalLogin(" ADMIN "); got != "admin" || kind != KindAdmin {
		t.Errorf("admin: %q %v", got, kind)
	}
	// U+0130 (İ) and U+212A (Kelvin sign) lower-case to i and k in
	// Unicode; here they are not letters of a local part at all.
	for _, in := range []string{"ALİCE@demo.test", "\u212Aate@demo.test", "jöhn@demo.test"} {
		if got, kind, ok := CanonicalLogin(in); ok || kind != KindNone || got == "alice@demo.test" || got == "kate@demo.test" {
			t.Errorf("CanonicalLogin(%q) = %q, %v, %v; want refused", in, got, kind, ok)
		}
		if _, err := NormalizeAddress(in); err == nil {
			t.Errorf("NormalizeAddress(%q) accepted a non-ASCII local part", in)
		}
	}
}

// TestThrottleKeys: a block on one spelling blocks every spelling; IPv6
// is keyed per /64; a success clears only its own (IP, login) pair.
// It runs on the in-memory counters and on the database's (Shared).
func TestThrottleKeys(t *testing.T) {
	for _, mode := range counterModes(t) {
		t.Run(mode.name, func(t *testing.T) { testThrottleKeys(t, mode.throttle) })
	}
}

func testThrottleKeys(t *testing.T, newThrottle func(ThrottleConfig) *Throttle) {
	th := newThrottle(ThrottleConfig{BlockAfter: 3, BaseDelay: time.Millisecond})
	for i := 0; i < 3; i++ {
		th.Fail("smtp", "192.0.2.1", "vb5@demo.test")
	}
	for _, l := range []string{"VB5@demo.test", "vb5@DEMO.TEST", " vb5@demo.test", "<vb5@demo.test>", `"vb5"@demo.test`} {
		if b, _ := th.Check("198.51.100.9", l); !b {
			t.Errorf("%q not blocked after vb5@demo.test was", l)
		}
	}
	for i := 0; i < 3; i++ {
		th.Fail("imap", "2001:db8:1:2::1", "x"+string(rune('a'+i))+"@demo.test")
	}
	if b, _ := th.Check("2001:db8:1:2:ffff::9", "y@demo.test"); !b {
		t.Error("another address in the same /64 is not blocked")
	}
	if b, _ := th.Check("2001:db8:1:3::1", "y@demo.test"); b {
		t.Error("the next /64 is blocked")
	}
	if ThrottleIP("::ffff:192.0.2.7") != "192.0.2.7" || ThrottleIP("192.0.2.7") != "192.0.2.7" {
		t.Error("IPv4 keys")
	}
	// Two guesses against alice, a good login to one's own account: the
	// IP keeps its two failures, the third guess blocks.
	th = newThrottle(ThrottleConfig{BlockAfter: 3, BaseDelay: time.Millisecond})
	th.Fail("smtp", "192.0.2.5", "alice@demo.test")
	th.Fail("smtp", "192.0.2.5", "alice@demo.test")
	th.Succeed("192.0.2.5", "mallory@demo.test")
	if th.Failures("192.0.2.5") != 2 {
		t.Fatalf("a success for another login cleared the IP: %d failures left", th.Failures("192.0.2.5"))
	}
	th.Fail("smtp", "192.0.2.5", "alice@demo.test")
	if b, _ := th.Check("192.0.2.5", "mallory@demo.test"); !b {
		t.Fatal("IP not blocked after three guesses around a good login")
	}
	// Its own pair is cleared: a user who mistyped once starts again.
	th.Unblock("ip:192.0.2.5")
	th.Unblock("login:alice@demo.test")
	th.Fail("web", "192.0.2.6", "bob@demo.test")
	th.Fail("web", "192.0.2.6", "carol@demo.test")
	th.Succeed("192.0.2.6", "BOB@demo.test")
	if n := th.Failures("192.0.2.6"); n != 1 {
		t.Fatalf("after bob's success the IP has %d failures, want carol's 1", n)
	}
}

// TestLoginRefusesByServiceNotPassword: IMAP with a domain or admin login,
// and SMTP for a domain whose switch is off, answer the same for a right
// and a wrong password.
func TestLoginRefusesByServiceNotPassword(t *testing.T) {
	st := authTestStore(t)
	st.Throttle.SetConfig(ThrottleConfig{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, BlockAfter: 1000})
	st.AddDomain("doe.com")
	st.SetDomainPassword("doe.com", "Dom-pass-x7Q!z")
	st.AddUser("john@doe.com", "Usr-pass-k9W!q")
	st.SetAdminPassword("Adm-pass-w2E!r")
	ctx := context.Background()
	same := func(proto, login, right string, want error) {
		t.Helper()
		_, e1 := st.Login(ctx, proto, "192.0.2.1", login, right)
		_, e2 := st.Login(ctx, proto, "192.0.2.1", login, "wrong")
		if !errors.Is(e1, want) || e1.Error() != e2.Error() {
			t.Errorf("%s %s: right password %v, wrong %v; want the same %v", proto, login, e1, e2, want)
		}
	}
	same(ProtoIMAP, "doe.com", "Dom-pass-x7Q!z", ErrBadCredentials)
	same(ProtoIMAP, "admin", "Adm-pass-w2E!r", ErrBadCredentials)
	same(ProtoSMTP, "admin", "Adm-pass-w2E!r", ErrBadCredentials)
	same(ProtoSMTP, "doe.com", "Dom-pass-x7Q!z", ErrSMTPDisabled)
	same(ProtoSMTP, "john@doe.com", "Usr-pass-k9W!q", ErrSMTPDisabled)
	if _, err := st.Login(ctx, ProtoWeb, "192.0.2.1", "doe.com", "Dom-pass-x7Q!z"); err != nil {
		t.Errorf("web domain login: %v", err)
	}
}

// TestRevoked: a principal from Login is revoked by its own password
// change or removal, SMTP also by its domain's switch; others are not.
func TestRevoked(t *testing.T) {
	st := authTestStore(t)
	st.Throttle.SetConfig(ThrottleConfig{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	st.AddDomain("doe.com")
	st.SetDomainSwitch("doe.com", "smtp", true)
	st.SetDomainPassword("doe.com", "Dom-pass-x7Q!z")
	st.AddUser("john@doe.com", "Usr-pass-k9W!q")
	st.AddUser("jane@doe.com", "Jan-pass-h3Y!p")
	ctx := context.Background()
	login := func(l, pw string) Principal {
		p, err := st.Login(ctx, ProtoSMTP, "192.0.2.1", l, pw)
		if err != nil {
			t.Fatalf("login %s: %v", l, err)
		}
		return p
	}
	john, jane, dom := login("john@doe.com", "Usr-pass-k9W!q"), login("JANE@doe.com", "Jan-pass-h3Y!p"), login("doe.com", "Dom-pass-x7Q!z")
	sig := st.RevocationSignal()
	st.SetUserPassword("john@doe.com", "Usr-pass-k9W!q2")
	select {
	case <-sig:
	default:
		t.Fatal("no revocation signal")
	}
	if !st.Revoked(john) || !st.SMTPRevoked(john) || st.Revoked(jane) || st.SMTPRevoked(dom) {
		t.Fatal("password change: wrong sessions revoked")
	}
	st.RemoveUser("jane@doe.com")
	if !st.Revoked(jane) || st.SMTPRevoked(dom) {
		t.Fatal("removal")
	}
	john = login("john@doe.com", "Usr-pass-k9W!q2")
	st.SetDomainSwitch("doe.com", "webmail", false)
	if st.SMTPRevoked(john) {
		t.Fatal("the webmail switch ended an SMTP session")
	}
	st.SetDomainSwitch("doe.com", "smtp", false)
	if st.Revoked(john) || !st.SMTPRevoked(john) || !st.SMTPRevoked(dom) {
		t.Fatal("SMTP switch off")
	}
	st.SetDomainSwitch("doe.com", "smtp", true)
	dom = login("doe.com", "Dom-pass-x7Q!z")
	st.RemoveUser("john@doe.com")
	st.RemoveDomain("doe.com")
	if !st.Revoked(dom) {
		t.Fatal("domain removal")
	}
}

// TestCheckPoolOrder: waiting checks from a busy or failing address run
// after those of a clean one, whatever the arrival order.
func TestCheckPoolOrder(t *testing.T) {
	p := newCheckPool(1)
	ctx := context.Background()
	hold, _ := p.acquire(ctx, "bad", 0)
	order := make(chan string, 8)
	queued := 0
	start := func(ip string, failures int) {
		go func() {
			r, err := p.acquire(ctx, ip, failures)
			if err != nil {
				order <- "error"
				return
			}
			order <- ip
			r()
		}()
		// Let it queue before the next one arrives.
		queued++
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			p.mu.Lock()
			n := len(p.waiting)
			p.mu.Unlock()
			if n == queued {
				break
			}
		}
	}
	start("bad", 0)
	start("bad", 0)
	start("failing", 5)
	start("clean", 0)
	hold()
	got := []string{<-order, <-order, <-order, <-order}
	if got[0] != "clean" {
		t.Fatalf("order %v: the clean address did not go first", got)
	}
	// A waiter whose context ends leaves the queue.
	hold, _ = p.acquire(ctx, "x", 0)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := p.acquire(cctx, "y", 0); err == nil {
		t.Fatal("acquire ignored its context")
	}
	hold()
	if r, err := p.acquire(ctx, "z", 0); err != nil {
		t.Fatal(err)
	} else {
		r()
	}
}

// TestAddUserRefusesNonASCIILocalPart (item 8): "user add" (CLI and web go
// through AddUser) refuses a local part that only Unicode folding would
// make alice's or kate's.
func TestAddUserRefusesNonASCIILocalPart(t *testing.T) {
	st := authTestStore(t)
	st.AddDomain("demo.test")
	for _, a := range []string{"ALİCE@demo.test", "\u212Aate@demo.test", "jöhn@demo.test"} {
		if _, err := st.AddUser(a, "Some-long-pass-1"); !errors.Is(err, ErrBadAddress) {
			t.Errorf("AddUser(%q) = %v, want ErrBadAddress", a, err)
		}
	}
	if _, err := st.AddUser("Alice@demo.test", "Some-long-pass-1"); err != nil {
		t.Fatal(err)
	}
	if u, err := st.GetUser("ALICE@DEMO.TEST"); err != nil || u.Address != "alice@demo.test" {
		t.Fatalf("ASCII case: %+v %v", u, err)
	}
}
