package pgkv_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
	"github.com/authsmtp/authsmtp/store/kv"
	"github.com/authsmtp/authsmtp/store/kv/pgkv"
)

// TestPostgresSSLMode: the --store URL's sslmode is honoured, against a
// throwaway cluster with TLS on (a self-signed certificate made here) that
// admits TLS connections only (hostssl). require connects (so over TLS);
// verify-full connects with sslrootcert naming the certificate and fails
// at open without it, saying why; disable fails at open, saying why.
func TestPostgresSSLMode(t *testing.T) {
	dir := t.TempDir()
	crtFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	testutil.WriteCertFiles(t, crtFile, keyFile, "localhost")
	crt, err := os.ReadFile(crtFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c := pgtest.StartT(t, pgtest.Config{
		Settings: []string{"ssl=on", "ssl_cert_file=server.crt", "ssl_key_file=server.key"},
		HBA:      "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
		Files:    map[string][]byte{"server.crt": crt, "server.key": key},
	})
	// localhost: the name in the certificate; the server listens on
	// 127.0.0.1 only.
	base := fmt.Sprintf("postgres://postgres@localhost:%d/postgres?", c.Port)
	open := func(query string) (*pgkv.DB, error) {
		db, err := pgkv.Open(context.Background(), base+query, pgkv.Options{})
		if err == nil {
			t.Cleanup(func() { db.Close() })
		}
		return db, err
	}
	for _, ok := range []string{"sslmode=require", "sslmode=verify-full&sslrootcert=" + crtFile} {
		db, err := open(ok)
		if err != nil {
			t.Fatalf("%s: %v", ok, err)
		}
		err = db.Update(func(tx kv.Tx) error {
			_, err := tx.CreateBucketIfNotExists([]byte("ssl"))
			return err
		})
		if err != nil {
			t.Errorf("%s: writing: %v", ok, err)
		}
	}
	for _, c := range []struct{ query, want string }{
		{"sslmode=verify-full", "sslrootcert"},
		{"sslmode=disable", "sslmode=require"},
	} {
		_, err := open(c.query)
		if err == nil {
			t.Errorf("%s connected to a server that must refuse it", c.query)
			continue
		}
		t.Logf("%s: %v", c.query, err)
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not say what to do (%q)", c.query, err, c.want)
		}
	}
}
