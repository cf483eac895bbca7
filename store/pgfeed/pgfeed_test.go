package pgfeed_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/pgfeed"
)

var _ store.Feed = (*pgfeed.Feed)(nil)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// listen runs f.Listen until the test ends and returns what it hears; a
// nil payload (a (re)connection) arrives as "".
func listen(t *testing.T, f *pgfeed.Feed) <-chan string {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan string, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Listen(ctx, func(p []byte) { ch <- string(p) })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ch
}

func next(t *testing.T, ch <-chan string, within time.Duration) string {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(within):
		t.Fatalf("nothing heard within %v", within)
		return ""
	}
}

func newFeed(t *testing.T, url string) *pgfeed.Feed {
	f, err := pgfeed.New(url, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	f.ReconnectDelay = 100 * time.Millisecond
	t.Cleanup(f.Close)
	return f
}

// TestFeed: a payload published by one node reaches every listener, the
// publisher's too; after PostgreSQL restarts, the listener reconnects by
// itself, says so (a gap), and hears again.
func TestFeed(t *testing.T) {
	url := pgtest.URL(t)
	a, b := newFeed(t, url), newFeed(t, url)
	ha, hb := listen(t, a), listen(t, b)
	if next(t, ha, 10*time.Second) != "" || next(t, hb, 10*time.Second) != "" {
		t.Fatal("no connect signal first")
	}
	ctx := context.Background()
	if err := a.Publish(ctx, []byte(`{"n":"a"}`)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []<-chan string{ha, hb} {
		if p := next(t, h, time.Second); p != `{"n":"a"}` {
			t.Fatalf("heard %q", p)
		}
	}
	if err := pgtest.Shared(t).Restart(); err != nil {
		t.Fatal(err)
	}
	// Both listeners must be back before b publishes: a notification sent
	// while a listener is still reconnecting is not for it (LISTEN is per
	// connection), which is why a reconnect is announced as a gap.
	for _, h := range []<-chan string{ha, hb} {
		if p := next(t, h, 20*time.Second); p != "" {
			t.Fatalf("after a restart heard %q before the reconnect signal", p)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Publish(ctx, []byte(`{"n":"b"}`)) != nil {
		if time.Now().After(deadline) {
			t.Fatal("publishing does not recover after the restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for p := next(t, ha, 10*time.Second); p != `{"n":"b"}`; p = next(t, ha, 10*time.Second) {
		if p != "" {
			t.Fatalf("heard %q", p)
		}
	}
}

// TestStoresOverPostgres: two stores on one PostgreSQL database, as two
// nodes open it (store.OpenBackend makes the feed): a message stored on
// node A is announced to node B's watcher within a second, and a password
// changed on A ends B's session.
func TestStoresOverPostgres(t *testing.T) {
	url := pgtest.URL(t)
	var nodes []*store.Store
	for i := range 2 {
		st, err := store.OpenBackend(url, t.TempDir(), store.Options{Logger: testutil.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if i == 0 {
			testutil.Domain(t, st, "doe.com", "Dom-pass-long-7Q!x", true)
			testutil.User(t, st, "jane@doe.com", "Jan-pass-h3Y!p")
		}
		nodes = append(nodes, st)
	}
	a, b := nodes[0], nodes[1]
	w := b.Events.Watch("jane@doe.com")
	defer w.Close()
	p, err := b.Login(context.Background(), store.ProtoIMAP, "192.0.2.1", "jane@doe.com", "Jan-pass-h3Y!p")
	if err != nil {
		t.Fatal(err)
	}
	// The listeners are up once each has said it connected (a wake-up).
	time.Sleep(500 * time.Millisecond)
	for len(w.C) > 0 {
		<-w.C
	}
	start := time.Now()
	if _, err := a.Accept(&store.Incoming{From: "x@remote.test", Local: []store.LocalRcpt{{Address: "jane@doe.com"}}, Body: []byte("Subject: hi\r\n\r\nhi\r\n")}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case e := <-w.C:
			if e.Kind != store.EventNew {
				continue
			}
			t.Logf("new mail on A seen on B after %v", time.Since(start))
		case <-time.After(time.Second):
			t.Fatal("node B: no new-mail event within a second")
		}
		break
	}
	sig := b.RevocationSignal()
	if err := a.SetUserPassword("jane@doe.com", "New-pass-k8T!z"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sig:
	case <-time.After(time.Second):
		t.Fatal("node B's revocation signal did not fire within a second")
	}
	if !b.Revoked(p) {
		t.Fatal("node B's session survived a password change on node A")
	}
}
