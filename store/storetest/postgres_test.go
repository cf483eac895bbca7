package storetest_test

import (
	"os"
	"testing"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
	"github.com/authsmtp/authsmtp/store"
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
