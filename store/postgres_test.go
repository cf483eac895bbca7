package store

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
)

// The store's tests that open their store with authTestStore run on
// PostgreSQL with AUTHSMTP_TEST_STORE=postgres; the tests below always do
// (skipped where PostgreSQL is missing, failing under CI=true).

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// pgTestStore opens a store on a fresh PostgreSQL database.
func pgTestStore(t testing.TB) *Store {
	t.Helper()
	return openPG(t, pgtest.URL(t))
}

func openPG(t testing.TB, url string) *Store {
	t.Helper()
	st, err := OpenBackend(url, t.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestPostgresUIDsAcrossNodes appends to one mailbox from several store
// handles on one database (as several nodes), concurrently: every message
// gets its own UID, UIDs run 1..n with no gap or repeat, UIDNEXT follows,
// and the body ids (from the sequence) are all distinct.
func TestPostgresUIDsAcrossNodes(t *testing.T) {
	url := pgtest.URL(t)
	nodes := []*Store{openPG(t, url), openPG(t, url), openPG(t, url)}
	if _, err := nodes[0].AddDomain("nodes.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[0].AddUser("ann@nodes.test", "Nodes-Pass-2026-x"); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 8
	var mu sync.Mutex
	seen := map[uint32]bool{}
	bodies := map[uint64]bool{}
	var wg sync.WaitGroup
	for n, st := range nodes {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					m, err := st.Append("ann@nodes.test", "INBOX", fmt.Appendf(nil, "Subject: %d/%d/%d\r\n\r\nx\r\n", n, w, i), nil, time.Now())
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if seen[m.UID] {
						t.Errorf("UID %d given twice", m.UID)
					}
					if bodies[m.BodyID] {
						t.Errorf("body id %d given twice", m.BodyID)
					}
					seen[m.UID], bodies[m.BodyID] = true, true
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	total := len(nodes) * writers * each
	var uids []int
	for u := range seen {
		uids = append(uids, int(u))
	}
	sort.Ints(uids)
	if len(uids) != total || uids[0] != 1 || uids[len(uids)-1] != total {
		t.Fatalf("UIDs: %d of them, from %v to %v; want 1..%d", len(uids), uids[:1], uids[len(uids)-1:], total)
	}
	for _, st := range nodes {
		mb, states, err := st.MailboxState("ann@nodes.test", "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if len(states) != total || mb.UIDNext != uint32(total+1) {
			t.Errorf("a node sees %d messages, UIDNEXT %d; want %d, %d", len(states), mb.UIDNext, total, total+1)
		}
	}
}

// BenchmarkAcceptPostgres and BenchmarkAccept8Postgres are BenchmarkAccept
// and BenchmarkAccept8 on PostgreSQL (the test cluster: fsync off, so they
// measure round trips and conflicts, not the disk).
func BenchmarkAcceptPostgres(b *testing.B)  { benchAcceptOn(b, pgTestStore(b), 1) }
func BenchmarkAccept8Postgres(b *testing.B) { benchAcceptOn(b, pgTestStore(b), 8) }
