package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func show(t *testing.T, url, name string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW "+name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestClusters: the programs are found (Debian's /usr/lib/postgresql/N/bin
// in CI), the server never runs as root (PostgreSQL refuses to; as root
// the cluster belongs to the postgres user), the shared cluster runs with
// fsync off, and a cluster of its own takes its settings over the
// defaults.
func TestClusters(t *testing.T) {
	c := Shared(t)
	bin := BinDir()
	t.Logf("PostgreSQL programs in %s", bin)
	if os.Getenv("CI") == "true" && !strings.HasPrefix(bin, "/usr/lib/postgresql/") {
		t.Errorf("CI runs Debian's postgresql, found the programs in %s", bin)
	}
	fi, err := os.Stat(filepath.Join(c.Dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid == 0 {
		t.Error("the cluster's data belongs to root")
	}
	if v := show(t, URL(t), "fsync"); v != "off" {
		t.Errorf("shared cluster: fsync = %s, want off", v)
	}
	own := StartT(t, Config{Settings: []string{"fsync=on", "synchronous_commit=on"}})
	for name, want := range map[string]string{"fsync": "on", "synchronous_commit": "on"} {
		if v := show(t, own.URL("postgres"), name); v != want {
			t.Errorf("own cluster: %s = %s, want %s", name, v, want)
		}
	}
}
