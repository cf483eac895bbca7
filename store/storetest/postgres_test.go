package storetest_test

import (
	"context"
	"os"
	"testing"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/kv/pgkv"
	"github.com/authsmtp/authsmtp/store/pgfeed"
	"github.com/authsmtp/authsmtp/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestPostgresConformance runs the conformance suite on PostgreSQL.
func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		st, err := store.OpenBackend(pgtest.URL(t), t.TempDir(), store.Options{Logger: testutil.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// TestPostgresConformanceForcedRetry runs the conformance suite on
// PostgreSQL with every write transaction failed once as a serialization
// failure after its function ran (pgkv.Options.ForceRetry): a store
// function that keeps state from the lost attempt (a flag set, a slice
// appended to) gives wrong answers here.
func TestPostgresConformanceForcedRetry(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		url := pgtest.URL(t)
		db, err := pgkv.Open(context.Background(), url, pgkv.Options{ForceRetry: true})
		if err != nil {
			t.Fatal(err)
		}
		feed, err := pgfeed.New(url, testutil.Logger(t))
		if err != nil {
			db.Close()
			t.Fatal(err)
		}
		st, err := store.OpenDB(db, t.TempDir(), store.Options{Logger: testutil.Logger(t), Shared: true, Feed: feed})
		if err != nil {
			feed.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() {
			st.Close()
			feed.Close()
		})
		return st
	})
}
