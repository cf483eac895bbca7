package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

const domainPW = "Conformance-Domain-Pass-2026"

func testDomainLogin(t *testing.T, b Backend) {
	withUser(t, b)
	ctx := context.Background()
	if err := b.SetDomainPassword(domain, domainPW); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Login(ctx, store.ProtoSMTP, "192.0.2.1", domain, domainPW); !errors.Is(err, store.ErrSMTPDisabled) {
		t.Errorf("SMTP login with the switch off: %v, want ErrSMTPDisabled", err)
	}
	if err := b.SetDomainSwitch(domain, "smtp", true); err != nil {
		t.Fatal(err)
	}
	p, err := b.Login(ctx, store.ProtoSMTP, "192.0.2.1", "WWW."+domain, domainPW)
	if err != nil || p.Kind != store.KindDomain || p.Domain != domain {
		t.Fatalf("SMTP domain login: %+v, %v", p, err)
	}
	if err := b.CheckSMTP(p); err != nil {
		t.Errorf("CheckSMTP with the switch on: %v", err)
	}
	if !b.MaySendAs(p, "anyone@"+domain) || b.MaySendAs(p, "anyone@other.test") {
		t.Error("a domain login sends as its domain only")
	}
	if _, err := b.Login(ctx, store.ProtoIMAP, "192.0.2.1", domain, domainPW); err == nil {
		t.Error("a domain login opened IMAP")
	}
	if err := b.CheckWebmail(p); err == nil {
		t.Error("CheckWebmail passed with the webmail switch off")
	}
	if err := b.SetDomainSwitch(domain, "webmail", true); err != nil {
		t.Fatal(err)
	}
	if err := b.CheckWebmail(p); err != nil {
		t.Errorf("CheckWebmail with the switch on: %v", err)
	}
	if err := b.SetDomainSwitch(domain, "smtp", false); err != nil {
		t.Fatal(err)
	}
	if !b.SMTPRevoked(p) {
		t.Error("turning Authenticated SMTP off did not revoke the open SMTP session")
	}
	if err := b.UpdateDomain(domain, func(d *store.Domain) error {
		d.Limits.PerHour = 7
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if l := b.LimitsFor(p); l.PerHour != 7 {
		t.Errorf("LimitsFor after UpdateDomain: %+v", l)
	}
	ds, err := b.ListDomains()
	if err != nil || len(ds) != 1 || ds[0].Name != domain || !ds[0].Webmail || ds[0].SMTP {
		t.Errorf("ListDomains: %+v, %v", ds, err)
	}
	if !b.IsHosted(domain) || b.IsHosted("other.test") {
		t.Error("IsHosted")
	}
	if err := b.RemoveDomain(domain); err == nil {
		t.Fatal("a domain with users was removed")
	}
	if err := b.RemoveUser(user); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveDomain(domain); err != nil {
		t.Fatal(err)
	}
	if !b.Revoked(p) {
		t.Error("removing the domain did not revoke its login")
	}
	if _, err := b.GetDomain(domain); err == nil {
		t.Error("a removed domain is still there")
	}
	if _, err := b.GetUser(user); err == nil {
		t.Error("a removed domain's user is still there")
	}
	if b.IsHosted(domain) {
		t.Error("a removed domain is still hosted")
	}
}

func testRules(t *testing.T, b Backend) {
	withUser(t, b)
	const other = "bo@conformance.test"
	if _, err := b.AddUser(other, pw); err != nil {
		t.Fatal(err)
	}
	// Catch-all: unknown local parts reach the chosen user.
	if err := b.SetCatchAll(domain, other); err != nil {
		t.Fatal(err)
	}
	r, err := b.Route("whoever@" + domain)
	if err != nil || len(r.Local) != 1 || r.Local[0].Address != other {
		t.Errorf("Route through the catch-all: %+v, %v", r, err)
	}
	if err := b.SetCatchAll(domain, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Route("whoever@" + domain); err == nil {
		t.Error("the catch-all was turned off but still routes")
	}
	// Forwarding, with and without a kept copy.
	if err := b.SetForward(user, "ann@far.example", true); err != nil {
		t.Fatal(err)
	}
	r, err = b.Route(user)
	if err != nil || len(r.Local) != 1 || !slices.Equal(r.Remote, []string{"ann@far.example"}) || !r.Forwarded {
		t.Errorf("Route with forward+keep: %+v, %v", r, err)
	}
	if err := b.SetForward(user, "ann@far.example", false); err != nil {
		t.Fatal(err)
	}
	if r, err = b.Route(user); err != nil || len(r.Local) != 0 || len(r.Remote) != 1 {
		t.Errorf("Route with forward only: %+v, %v", r, err)
	}
	if err := b.SetForward(user, user, false); err == nil {
		t.Error("a user was forwarded to itself")
	}
	if err := b.SetForward(user, "", false); err != nil {
		t.Fatal(err)
	}
	// Alias loops are refused or fail to route, never loop.
	if _, err := b.AddAlias("a@"+domain, []string{"b@" + domain}, ""); err == nil {
		b.AddAlias("b@"+domain, []string{"a@" + domain}, "")
		if _, err := b.Route("a@" + domain); err == nil {
			t.Error("an alias loop routed")
		}
	}
	// Vacation: one reply per sender per window.
	if err := b.SetVacation(user, "away"); err != nil {
		t.Fatal(err)
	}
	if u, err := b.GetUser(user); err != nil || u.Vacation != "away" {
		t.Errorf("vacation text: %+v, %v", u, err)
	}
	if !b.VacationDue(user, "x@far.example", time.Hour) {
		t.Error("the first vacation reply is not due")
	}
	if b.VacationDue(user, "X@far.example", time.Hour) {
		t.Error("a second vacation reply inside the window is due")
	}
	if !b.VacationDue(user, "y@far.example", time.Hour) {
		t.Error("another sender's reply is not due")
	}
}

func testSendAs(t *testing.T, b Backend) {
	withUser(t, b)
	const alias = "team@conformance.test"
	if _, err := b.AddAlias(alias, []string{user}, user); err != nil {
		t.Fatal(err)
	}
	p, err := b.Authenticate(user, pw)
	if err != nil {
		t.Fatal(err)
	}
	if !b.MaySendAs(p, user) || !b.MaySendAs(p, alias) || b.MaySendAs(p, "other@"+domain) {
		t.Error("MaySendAs: own address and granted alias only")
	}
	if got := b.SendAsAddresses(p); !slices.Contains(got, user) || !slices.Contains(got, alias) {
		t.Errorf("SendAsAddresses: %v", got)
	}
	if _, err := b.AddAlias("x@conformance.test", []string{user}, "someone@elsewhere.test"); err == nil {
		t.Error("a send-as grant crossed domains")
	}
	if err := b.RemoveUser(user); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddUser(user, pw); err != nil {
		t.Fatal(err)
	}
	if p, err = b.Authenticate(user, pw); err != nil {
		t.Fatal(err)
	}
	if b.MaySendAs(p, alias) {
		t.Error("a re-created user kept the send-as grant of the removed one")
	}
}

func testSessions(t *testing.T, b Backend) {
	withUser(t, b)
	p, err := b.Authenticate(user, pw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.NewSession(p, time.Hour)
	if err != nil || len(s.ID) < 32 || s.CSRF == "" || s.Login != user {
		t.Fatalf("NewSession: %+v, %v", s, err)
	}
	got, ok := b.GetSession(s.ID)
	if !ok || got.ID != s.ID || got.CSRF != s.CSRF || got.Principal().Address != user {
		t.Errorf("GetSession: %+v, %v", got, ok)
	}
	if _, ok := b.GetSession("not-a-session"); ok {
		t.Error("an unknown session id is live")
	}
	if _, ok := b.GetSession(""); ok {
		t.Error("the empty session id is live")
	}
	short, err := b.NewSession(p, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, ok := b.GetSession(short.ID); ok {
		t.Error("an expired session is live")
	}
	gone, err := b.NewSession(p, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.PruneSessions(time.Now().Add(time.Minute)); err != nil || n < 1 {
		t.Errorf("PruneSessions: %d, %v", n, err)
	}
	if _, ok := b.GetSession(gone.ID); ok {
		t.Error("a pruned session is live")
	}
	if _, ok := b.GetSession(s.ID); !ok {
		t.Error("PruneSessions removed a live session")
	}
	if err := b.DeleteSession(s.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.GetSession(s.ID); ok {
		t.Error("a signed-out session is live")
	}
}

func testRevocation(t *testing.T, b Backend) {
	withUser(t, b)
	ctx := context.Background()
	p, err := b.Login(ctx, store.ProtoIMAP, "192.0.2.7", user, pw)
	if err != nil {
		t.Fatal(err)
	}
	web, err := b.NewSession(p, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if b.Revoked(p) {
		t.Fatal("a fresh login is revoked")
	}
	signal := b.RevocationSignal()
	const newPW = "Conformance-Pass-2027"
	if err := b.SetUserPassword(user, newPW); err != nil {
		t.Fatal(err)
	}
	select {
	case <-signal:
	case <-time.After(5 * time.Second):
		t.Error("RevocationSignal did not fire on a password change")
	}
	if !b.Revoked(p) {
		t.Error("a password change did not revoke the open login")
	}
	if _, ok := b.GetSession(web.ID); ok {
		t.Error("a password change left the web session live")
	}
	if _, err := b.Authenticate(user, pw); err == nil {
		t.Error("the old password still logs in")
	}
	p2, err := b.Login(ctx, store.ProtoIMAP, "192.0.2.7", user, newPW)
	if err != nil {
		t.Fatal(err)
	}
	if b.Revoked(p2) {
		t.Error("a login after the change is revoked")
	}
	if err := b.RemoveUser(user); err != nil {
		t.Fatal(err)
	}
	if !b.Revoked(p2) {
		t.Error("removing the user did not revoke its login")
	}
}

func testThrottleCaps(t *testing.T, b Backend) {
	withUser(t, b)
	ctx := context.Background()
	const ip = "198.51.100.9"
	b.Throttle.SetConfig(store.ThrottleConfig{BlockAfter: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	for i := 0; i < 3; i++ {
		b.Throttle.Fail(store.ProtoIMAP, ip, user)
	}
	if blocked, until := b.Throttle.Check(ip, user); !blocked || !until.After(time.Now()) {
		t.Errorf("Check after 3 failures: %v %v", blocked, until)
	}
	if _, err := b.Login(ctx, store.ProtoIMAP, ip, "ANN@Conformance.Test", pw); !errors.Is(err, store.ErrThrottled) {
		t.Errorf("Login while blocked (another spelling): %v, want ErrThrottled", err)
	}
	if _, err := b.Login(ctx, store.ProtoIMAP, "203.0.113.5", "bo@"+domain, pw); errors.Is(err, store.ErrThrottled) {
		t.Error("a clean IP and login were throttled")
	}

	p, err := b.Authenticate(user, pw)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateUser(user, func(u *store.User) error {
		u.Limits = store.SendLimits{PerHour: 2, PerDay: 10, RcptsPerDay: 5}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	limits := b.LimitsFor(p)
	if limits.PerHour != 2 || limits.RcptsPerDay != 5 {
		t.Fatalf("LimitsFor: %+v", limits)
	}
	for i := 0; i < 2; i++ {
		if err := b.Caps.Take(p.Login(), limits, 1); err != nil {
			t.Fatalf("message %d under the cap: %v", i+1, err)
		}
	}
	var ce *store.CapError
	if err := b.Caps.Take(p.Login(), limits, 1); !errors.As(err, &ce) || ce.Max != 2 {
		t.Errorf("third message in an hour with PerHour 2: %v", err)
	}
	if err := b.Caps.Take("other@"+domain, limits, 6); !errors.As(err, &ce) || ce.Max != 5 {
		t.Errorf("6 recipients with RcptsPerDay 5: %v", err)
	}
	if err := b.Caps.Take("other@"+domain, limits, 5); err != nil {
		t.Errorf("another login's first message: %v", err)
	}
}

func testDKIM(t *testing.T, b Backend) {
	withUser(t, b)
	set, err := b.DKIMKeys(domain)
	if err != nil || len(set.Keys) == 0 {
		t.Fatalf("a new domain has no DKIM keys: %+v, %v", set, err)
	}
	var active []store.DKIMKey
	for _, k := range set.Keys {
		if k.Active {
			active = append(active, k)
		}
		if _, err := k.Signer(); err != nil {
			t.Errorf("key %s: %v", k.Selector, err)
		}
	}
	if len(active) == 0 {
		t.Fatal("no active DKIM key")
	}
	rot, err := b.RotateDKIM(domain)
	if err != nil {
		t.Fatal(err)
	}
	if len(rot.Keys) != 2*len(set.Keys) {
		t.Errorf("after a rotation %d keys, want %d", len(rot.Keys), 2*len(set.Keys))
	}
	again, err := b.DKIMKeys(domain)
	if err != nil || len(again.Keys) != len(rot.Keys) {
		t.Fatalf("DKIMKeys after rotation: %+v, %v", again, err)
	}
	for _, k := range again.Keys {
		if k.Selector == active[0].Selector && k.Active {
			t.Error("the old key is still active after a rotation")
		}
	}
	if err := b.RemoveDKIMSelector(domain, again.Keys[0].Selector); err == nil && again.Keys[0].Active {
		t.Error("an active key was removed")
	}
	if err := b.RemoveDKIMSelector(domain, active[0].Selector); err != nil {
		t.Errorf("removing an old key: %v", err)
	}
	if s, _ := b.DKIMKeys(domain); len(s.Keys) != len(rot.Keys)-1 {
		t.Errorf("after removing one key: %d keys", len(s.Keys))
	}
	if err := b.RemoveUser(user); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveDomain(domain); err != nil {
		t.Fatal(err)
	}
	if _, err := b.DKIMKeys(domain); err == nil {
		t.Error("a removed domain still has DKIM keys")
	}
}
