// Package pgtest runs a throwaway PostgreSQL cluster for tests: initdb in a
// temporary directory, the server on 127.0.0.1 (a free port) and a Unix
// socket there, fsync off. One cluster serves a whole test binary; each
// URL call gets a fresh database in it. The cluster stops when the test
// binary exits (Main), and a watchdog stops it if the binary dies.
//
// PostgreSQL refuses to run as root: as root the cluster runs as the
// postgres user (runuser). Where PostgreSQL is not installed the tests
// skip, and fail under CI=true (.ci/run installs Debian's postgresql).
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a running throwaway PostgreSQL.
type Cluster struct {
	Dir  string // the temporary directory (data, socket, log)
	Port int
	cmd  *exec.Cmd
}

var (
	once    sync.Once
	shared  *Cluster
	sharedE error
	dbSeq   atomic.Int64
)

// Main runs the tests and stops the cluster afterwards: use it as
// os.Exit(pgtest.Main(m)) in a TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	return code
}

// URL starts the binary's cluster if needed and returns the URL of a new,
// empty database in it. It skips the test when PostgreSQL is missing
// (fails under CI=true).
func URL(t testing.TB) string {
	t.Helper()
	c := Shared(t)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connecting: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: creating database: %v", err)
	}
	return c.URL(name)
}

// Shared returns the binary's cluster, starting it on first use.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	bin := BinDir()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL is required in CI but not installed (postgresql in .ci/run)")
		}
		t.Skip("PostgreSQL not installed (no initdb in /usr/lib/postgresql/*/bin or PATH): skipping (CI=true makes this a failure)")
	}
	once.Do(func() { shared, sharedE = Start(bin) })
	if sharedE != nil {
		t.Fatalf("pgtest: starting PostgreSQL: %v", sharedE)
	}
	return shared
}

// BinDir finds PostgreSQL's server programs: Debian's newest
// /usr/lib/postgresql/N/bin, else initdb on PATH. "" when missing.
func BinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// URL is the URL of database name in the cluster.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, name)
}

// Start creates and starts a cluster with the programs in bin.
func Start(bin string) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "authsmtp-pgtest-")
	if err != nil {
		return nil, err
	}
	var asUser []string // the command prefix that runs a program as the cluster's owner
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user to run PostgreSQL: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	c := &Cluster{Dir: dir}
	data := filepath.Join(dir, "data")
	out, err := run(asUser, filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	for range 5 {
		if c.Port, err = freePort(); err != nil {
			return nil, err
		}
		if err = c.start(asUser, bin); err == nil {
			return c, nil
		}
	}
	os.RemoveAll(dir)
	return nil, err
}

// start runs postgres under a watchdog shell that stops it when this
// process is gone, so a killed test binary leaves no server behind.
func (c *Cluster) start(asUser []string, bin string) error {
	pg := strings.Join([]string{
		filepath.Join(bin, "postgres"), "-D", filepath.Join(c.Dir, "data"),
		"-p", strconv.Itoa(c.Port), "-k", c.Dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=400",
		"-c", "shared_buffers=32MB",
	}, " ")
	script := fmt.Sprintf(`%s >%s/log 2>&1 & pg=$!
trap 'kill -INT $pg; wait $pg; exit 0' TERM
while [ -d /proc/%d ] && kill -0 $pg 2>/dev/null; do sleep 1; done
kill -INT $pg 2>/dev/null; wait $pg`, pg, c.Dir, os.Getpid())
	args := append(append([]string{}, asUser...), "sh", "-c", script)
	c.cmd = exec.Command(args[0], args[1:]...)
	c.cmd.Dir = c.Dir
	if err := c.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if c.cmd.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.cmd.Process.Kill()
	log, _ := os.ReadFile(filepath.Join(c.Dir, "log"))
	return fmt.Errorf("PostgreSQL did not start on port %d: %s", c.Port, log)
}

// Stop stops the server and removes the directory.
func (c *Cluster) Stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			c.cmd.Process.Kill()
		}
	}
	os.RemoveAll(c.Dir)
}

// Restart stops the server and starts it again on the same port and data
// (a database restart under load).
func (c *Cluster) Restart() error {
	bin := BinDir()
	var asUser []string
	if os.Geteuid() == 0 {
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGTERM)
		c.cmd.Wait()
	}
	return c.start(asUser, bin)
}

func run(prefix []string, name string, args ...string) ([]byte, error) {
	all := append(append(append([]string{}, prefix...), name), args...)
	cmd := exec.Command(all[0], all[1:]...)
	cmd.Dir = os.TempDir() // the postgres user may not enter ours
	return cmd.CombinedOutput()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
