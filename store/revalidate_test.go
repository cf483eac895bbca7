package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
	"github.com/authsmtp/authsmtp/store/kv/pgkv"
)

var roleSeq atomic.Int64

// pgAdmin runs a statement as the cluster's superuser.
func pgAdmin(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	return pgtest.Shared(t).Exec(t, sql, args...)
}

// TestRevocationAfterFeedGap: node A's listening connection is cut (its
// backend terminated) and kept from coming back while node B changes a
// password and turns a domain's SMTP switch off; those notices are lost.
// Once A listens again, the sessions the changes revoke end on A, and a
// session nothing changed for lives on. (A web session ends at once: it
// is read from the database at every request.) New mail B stored meanwhile wakes
// A's watchers.
func TestRevocationAfterFeedGap(t *testing.T) {
	url := pgtest.URL(t)
	// Node A connects as a role of its own, so its reconnection can be
	// held off (NOLOGIN) and its listener found.
	role := fmt.Sprintf("node_a_%d", roleSeq.Add(1))
	pgAdmin(t, "CREATE ROLE "+role+" LOGIN SUPERUSER")
	t.Cleanup(func() { pgAdmin(t, "ALTER ROLE "+role+" LOGIN") })
	urlA := strings.Replace(url, "postgres://postgres@", "postgres://"+role+"@", 1)
	if urlA == url {
		t.Fatalf("cannot put a role into %s", url)
	}
	b := openPG(t, url)
	for _, d := range []string{"gap.test", "other.test"} {
		if _, err := b.AddDomain(d); err != nil {
			t.Fatal(err)
		}
		if err := b.SetDomainSwitch(d, "smtp", true); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetDomainPassword("gap.test", "Gap-domain-pass-1x"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ann@gap.test", "bob@other.test"} {
		if _, err := b.AddUser(u, "Gap-user-pass-1x"); err != nil {
			t.Fatal(err)
		}
	}
	a := openPG(t, urlA)
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(d); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after %s", what, d)
			}
		}
	}
	listening := "SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND query ILIKE 'listen%'"
	waitFor("node A listening", 10*time.Second, func() bool { return pgAdmin(t, listening, role) == 1 })
	login := func(name string) Principal {
		t.Helper()
		p, err := a.Authenticate(name, map[bool]string{true: "Gap-domain-pass-1x", false: "Gap-user-pass-1x"}[!strings.Contains(name, "@")])
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ann, dom, bob := login("ann@gap.test"), login("gap.test"), login("bob@other.test")
	web, err := a.NewSession(ann, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	watch, stop := a.Events.Subscribe("ann@gap.test")
	defer stop()

	pgAdmin(t, "ALTER ROLE "+role+" NOLOGIN")
	if n := pgAdmin(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND query ILIKE 'listen%'", role); n != 1 {
		t.Fatalf("terminated %d listening backends of node A, want 1", n)
	}
	if err := b.SetUserPassword("ann@gap.test", "Gap-new-pass-2y"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetDomainSwitch("gap.test", "smtp", false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append("ann@gap.test", "INBOX", []byte("Subject: meanwhile\r\n\r\nx\r\n"), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the notices are gone by now
	// Web sessions live in the database: B's change ended ann's on A
	// whether or not A heard of it.
	if _, ok := a.GetSession(web.ID); ok {
		t.Error("ann's web session on node A lives on after B changed her password")
	}
	if a.Revoked(ann) {
		t.Fatal("node A heard of the password change while not listening: the test does not make a gap")
	}
	for len(watch) > 0 {
		<-watch
	}

	pgAdmin(t, "ALTER ROLE "+role+" LOGIN")
	healed := time.Now()
	waitFor("ann's session on node A ended after the password change on B", 15*time.Second, func() bool { return a.Revoked(ann) })
	t.Logf("node A ended ann's session %s after it could listen again", time.Since(healed))
	if !a.SMTPRevoked(dom) {
		t.Error("the domain login's SMTP session on node A lives on after B turned its SMTP switch off")
	}
	if a.Revoked(dom) {
		t.Error("the domain login's IMAP/web standing was revoked, though only its SMTP switch changed")
	}
	if a.Revoked(bob) || a.SMTPRevoked(bob) {
		t.Error("bob's session on node A ended, though nothing of his changed")
	}
	select {
	case <-watch:
	case <-time.After(5 * time.Second):
		t.Error("node A's watcher of ann's mail did not wake after the gap (the mail B stored meanwhile)")
	}
	// After the gap the answers are kept: no database read per question.
	if n := len(a.recheck.ok); n != 5 {
		t.Errorf("%d answers kept after the gap, want 5 (ann; the domain and bob, each for SMTP and not)", n)
	}
}

// TestRevocationRecheckWithoutNotice: node B's notice never arrives (B
// runs without a feed, as when its publishing failed), and node A's
// listener never dropped: A still ends the revoked session at its next
// periodic check (Options.RecheckEvery), and keeps an unchanged one.
func TestRevocationRecheckWithoutNotice(t *testing.T) {
	url := pgtest.URL(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := OpenBackend(url, t.TempDir(), Options{Logger: log, RecheckEvery: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	db, err := pgkv.Open(context.Background(), url, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenDB(db, t.TempDir(), Options{Logger: log, Shared: true}) // no feed: publishes nothing
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.AddDomain("quiet.test"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ann@quiet.test", "bob@quiet.test"} {
		if _, err := b.AddUser(u, "Quiet-user-pass-1x"); err != nil {
			t.Fatal(err)
		}
	}
	ann, err := a.Authenticate("ann@quiet.test", "Quiet-user-pass-1x")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := a.Authenticate("bob@quiet.test", "Quiet-user-pass-1x")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetUserPassword("ann@quiet.test", "Quiet-new-pass-2y"); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	for !a.Revoked(ann) {
		if time.Since(changed) > 10*time.Second {
			t.Fatal("ann's session on node A lives on 10s after B changed her password unannounced")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("ended %s after the unannounced change", time.Since(changed))
	if a.Revoked(bob) {
		t.Error("bob's session ended, though nothing of his changed")
	}
}
