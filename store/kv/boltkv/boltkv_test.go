package boltkv_test

import (
	"path/filepath"
	"testing"

	"github.com/authsmtp/authsmtp/store/kv"
	"github.com/authsmtp/authsmtp/store/kv/boltkv"
	"github.com/authsmtp/authsmtp/store/kv/kvtest"
)

// TestBoltConformance runs the kv suite on bbolt, the reference.
func TestBoltConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.DB {
		db, err := boltkv.Open(filepath.Join(t.TempDir(), "kv.db"), &boltkv.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
