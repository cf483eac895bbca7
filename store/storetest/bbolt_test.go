package storetest_test

import (
	"testing"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/storetest"
)

// TestBboltConformance runs the conformance suite on the bbolt store.
func TestBboltConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		st, err := store.Open(t.TempDir(), store.Options{Logger: testutil.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// TestBboltSharedConformance runs it on a bbolt store whose throttle and
// send caps count in the database (Options.Shared), as on a database
// several nodes share.
func TestBboltSharedConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		st, err := store.Open(t.TempDir(), store.Options{Logger: testutil.Logger(t), Shared: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}
