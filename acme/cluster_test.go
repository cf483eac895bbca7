package acme

import (
	"os"
	"testing"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
	"github.com/authsmtp/authsmtp/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestACMETwoNodesOnPostgresOneOrder: two nodes, each with its own store
// handle on one PostgreSQL database, start at once; the lock record in the
// database lets one order, and the other loads and serves its result.
func TestACMETwoNodesOnPostgresOneOrder(t *testing.T) {
	t.Parallel()
	host := "cluster.authsmtp.test"
	url := pgtest.URL(t)
	ra, rb := newListeners(t), newListeners(t)
	p := testutil.StartPebbleFor(t, port(ra.httpLn), testutil.ClosedPort(t), 0)
	var nodes []*store.Store
	for range 2 {
		st, err := store.OpenBackend(url, t.TempDir(), store.Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		nodes = append(nodes, st)
	}
	// Pebble asks node A's port; A answers from the database whichever
	// node holds the order.
	ra.start(t, acmeConfig(p, host), nodes[0], true, false)
	rb.start(t, acmeConfig(p, host), nodes[1], true, false)
	ra.wait(t, "loaded", host, issueWait)
	rb.wait(t, "loaded", host, issueWait)
	a, err := handshake(ra.ml.Addr().String(), host, nil, p.Roots, host)
	if err != nil {
		t.Fatal(err)
	}
	b, err := handshake(rb.ml.Addr().String(), host, nil, p.Roots, host)
	if err != nil {
		t.Fatal(err)
	}
	if a.SerialNumber.Cmp(b.SerialNumber) != 0 {
		t.Errorf("nodes serve different certificates %v and %v", a.SerialNumber, b.SerialNumber)
	}
	if n := p.Orders.Load(); n != 1 {
		t.Errorf("orders = %d, want 1 for the cluster", n)
	}
}
