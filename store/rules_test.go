package store

import (
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"
)

func rulesStore(t *testing.T) *Store {
	t.Helper()
	st, err := Open(t.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, d := range []string{"a.test", "b.test"} {
		if _, err := st.AddDomain(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"alice@a.test", "bob@a.test", "carol@b.test"} {
		if _, err := st.AddUser(u, "password-123"); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func locals(r Route) []string {
	var out []string
	for _, l := range r.Local {
		out = append(out, l.Address)
	}
	return out
}

func TestRouteRules(t *testing.T) {
	st := rulesStore(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := st.AddAlias("sales@a.test", []string{"alice@a.test", "bob@a.test", "ext@other.test"}, "")
	must(err)
	_, err = st.AddAlias("team@a.test", []string{"sales@a.test", "carol@b.test"}, "")
	must(err)

	r, err := st.Route("Sales@A.test")
	must(err)
	if !reflect.DeepEqual(locals(r), []string{"alice@a.test", "bob@a.test"}) || !reflect.DeepEqual(r.Remote, []string{"ext@other.test"}) || !r.Forwarded {
		t.Errorf("alias route = %+v", r)
	}
	r, err = st.Route("team@a.test")
	must(err)
	if len(r.Local) != 3 || len(r.Remote) != 1 {
		t.Errorf("nested alias route = %+v", r)
	}
	if _, err := st.Route("nobody@a.test"); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("unknown user: %v", err)
	}
	must(st.SetCatchAll("a.test", "bob@a.test"))
	r, err = st.Route("nobody@a.test")
	must(err)
	if !reflect.DeepEqual(locals(r), []string{"bob@a.test"}) {
		t.Errorf("catch-all route = %+v", r)
	}
	if err := st.SetCatchAll("a.test", "carol@b.test"); err == nil {
		t.Error("catch-all to another domain's user accepted")
	}
	must(st.SetCatchAll("a.test", ""))

	must(st.SetForward("alice@a.test", "alice@elsewhere.test", false))
	r, _ = st.Route("alice@a.test")
	if len(r.Local) != 0 || !reflect.DeepEqual(r.Remote, []string{"alice@elsewhere.test"}) || !r.Forwarded {
		t.Errorf("forward route = %+v", r)
	}
	must(st.SetForward("alice@a.test", "alice@elsewhere.test", true))
	r, _ = st.Route("alice@a.test")
	if len(r.Local) != 1 || len(r.Remote) != 1 {
		t.Errorf("forward+keep route = %+v", r)
	}
	r, _ = st.Route("carol@b.test")
	if r.Forwarded || len(r.Local) != 1 {
		t.Errorf("plain user route = %+v", r)
	}
	r, _ = st.Route("x@other.test")
	if r.Forwarded || !reflect.DeepEqual(r.Remote, []string{"x@other.test"}) {
		t.Errorf("remote route = %+v", r)
	}
}

func TestAliasLoop(t *testing.T) {
	st := rulesStore(t)
	st.AddAlias("x@a.test", []string{"y@a.test"}, "")
	st.AddAlias("y@a.test", []string{"x@a.test"}, "")
	if _, err := st.Route("x@a.test"); !errors.Is(err, ErrAliasLoop) {
		t.Errorf("alias loop: %v", err)
	}
	// A loop with a real mailbox on the way still delivers once.
	st.AddAlias("y@a.test", []string{"x@a.test", "bob@a.test"}, "")
	r, err := st.Route("x@a.test")
	if err != nil || !reflect.DeepEqual(locals(r), []string{"bob@a.test"}) {
		t.Errorf("loop with a mailbox = %+v, %v", r, err)
	}
	// A forward chain back to the start.
	st.SetForward("alice@a.test", "bob@a.test", false)
	st.SetForward("bob@a.test", "alice@a.test", false)
	if _, err := st.Route("alice@a.test"); !errors.Is(err, ErrAliasLoop) {
		t.Errorf("forward loop: %v", err)
	}
	st.AddAlias("gone@a.test", []string{"nobody@a.test"}, "")
	if _, err := st.Route("gone@a.test"); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("alias to a missing user: %v, want ErrNoSuchUser", err)
	}
	if _, err := st.AddAlias("alice@a.test", []string{"bob@a.test"}, ""); err == nil {
		t.Error("an alias shadowing a user was accepted")
	}
}

func TestAliasSendAs(t *testing.T) {
	st := rulesStore(t)
	alice := Principal{Kind: KindUser, Domain: "a.test", Address: "alice@a.test"}
	bob := Principal{Kind: KindUser, Domain: "a.test", Address: "bob@a.test"}
	st.AddAlias("sales@a.test", []string{"alice@a.test", "bob@a.test"}, "")
	if st.MaySendAs(alice, "sales@a.test") {
		t.Fatal("alias membership alone granted send-as")
	}
	if _, err := st.AddAlias("sales@a.test", []string{"alice@a.test", "bob@a.test"}, "alice@a.test"); err != nil {
		t.Fatal(err)
	}
	if !st.MaySendAs(alice, "Sales@A.TEST") {
		t.Error("admin-granted send-as refused")
	}
	if st.MaySendAs(bob, "sales@a.test") {
		t.Error("send-as granted to the wrong user")
	}
	if st.MaySendAs(Principal{Kind: KindDomain, Domain: "b.test"}, "sales@a.test") {
		t.Error("another domain's login may send as the alias")
	}
	if _, err := st.AddAlias("x@a.test", []string{"bob@a.test"}, "nobody@a.test"); err == nil {
		t.Error("send-as for a user that does not exist accepted")
	}
	st.RemoveUser("alice@a.test")
	st.AddUser("alice@a.test", "password-456")
	if st.MaySendAs(alice, "sales@a.test") {
		t.Error("a re-created user inherited send-as")
	}
}

// TestAliasSendAsOneDomain: a grant names only a user of the alias's own
// domain, and an address is a user or an alias, in either order, so a
// grant can never reach a real user's address.
func TestAliasSendAsOneDomain(t *testing.T) {
	st := rulesStore(t)
	carol := Principal{Kind: KindUser, Domain: "b.test", Address: "carol@b.test"}
	alice := Principal{Kind: KindUser, Domain: "a.test", Address: "alice@a.test"}
	if _, err := st.AddAlias("sales@a.test", []string{"alice@a.test"}, "carol@b.test"); err == nil || !strings.Contains(err.Error(), "own domain") {
		t.Errorf("cross-domain send-as: %v", err)
	}
	if st.MaySendAs(carol, "sales@a.test") {
		t.Error("cross-domain grant honoured")
	}
	if _, err := st.AddAlias("ceo@a.test", []string{"bob@a.test"}, "alice@a.test"); err != nil {
		t.Fatal(err)
	}
	if got := st.SendAsAddresses(alice); !reflect.DeepEqual(got, []string{"alice@a.test", "ceo@a.test"}) {
		t.Errorf("SendAsAddresses = %q", got)
	}
	// A user cannot be created at the alias's address...
	if _, err := st.AddUser("ceo@a.test", "another-pass-77"); err == nil || !strings.Contains(err.Error(), "is an alias") {
		t.Errorf("user at an alias's address: %v", err)
	}
	if !st.MaySendAs(alice, "ceo@a.test") {
		t.Error("the grant stopped working")
	}
	// ...nor an alias at a user's address (the order reversed).
	if _, err := st.AddAlias("bob@a.test", []string{"alice@a.test"}, "alice@a.test"); err == nil {
		t.Error("alias at a user's address accepted")
	}
	// An older file may hold both: the user's address wins over the grant.
	st.db.Update(func(tx kv.Tx) error {
		return putJSON(tx.Bucket(bucketAliases), "bob@a.test", Alias{Address: "bob@a.test", Targets: []string{"alice@a.test"}, SendAs: []string{"alice@a.test"}})
	})
	if st.MaySendAs(alice, "bob@a.test") || contains(st.SendAsAddresses(alice), "bob@a.test") {
		t.Error("grantee may send as a real user")
	}
	// Every address SendAsAddresses offers passes the rule, and nothing else does.
	for _, p := range []Principal{alice, carol, {Kind: KindUser, Domain: "a.test", Address: "bob@a.test"}} {
		offered := st.SendAsAddresses(p)
		for _, a := range offered {
			if !st.MaySendAs(p, a) {
				t.Errorf("%s offered %s but may not send as it", p.Login(), a)
			}
		}
		for _, a := range []string{"sales@a.test", "ceo@a.test", "alice@a.test", "bob@a.test", "carol@b.test"} {
			if st.MaySendAs(p, a) && !contains(offered, a) {
				t.Errorf("%s may send as %s but it is not offered", p.Login(), a)
			}
		}
	}
	if st.SendAsAddresses(Principal{Kind: KindDomain, Domain: "a.test"}) != nil {
		t.Error("a domain login got a fixed list")
	}
}

func TestSRS(t *testing.T) {
	st := rulesStore(t)
	srs := st.SRSForward("Sender@Outside.test", "a.test")
	if !strings.HasPrefix(srs, "srs0=") || !strings.HasSuffix(srs, "@a.test") {
		t.Fatalf("SRS address %q", srs)
	}
	r, err := st.Route(srs)
	if err != nil || !reflect.DeepEqual(r.Remote, []string{"sender@outside.test"}) {
		t.Fatalf("SRS bounce route = %+v, %v", r, err)
	}
	// A forged hash does not make us a relay.
	forged := strings.Replace(srs, srs[5:13], "aaaaaaaa", 1)
	if _, err := st.Route(forged); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("forged SRS routed: %v", err)
	}
	if got := st.SRSForward("", "a.test"); got != "" {
		t.Errorf("null sender rewritten to %q", got)
	}
	if got := st.SRSForward("carol@b.test", "a.test"); got != "carol@b.test" {
		t.Errorf("hosted sender rewritten to %q", got)
	}
}

func TestVacationOncePerWindow(t *testing.T) {
	st := rulesStore(t)
	if !st.VacationDue("alice@a.test", "x@other.test", time.Hour) {
		t.Fatal("first reply not due")
	}
	if st.VacationDue("alice@a.test", "X@other.test", time.Hour) {
		t.Error("second reply within the window")
	}
	if !st.VacationDue("alice@a.test", "y@other.test", time.Hour) {
		t.Error("another sender not replied to")
	}
	if !st.VacationDue("alice@a.test", "x@other.test", 0) {
		t.Error("reply not due after the window")
	}
}
