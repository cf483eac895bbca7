// Package pgtest runs a throwaway PostgreSQL cluster for tests: initdb in a
// temporary directory, the server on 127.0.0.1 (a free port) and a Unix
// socket there, fsync off. One cluster serves a whole test binary; each
// URL call gets a fresh database in it. The cluster stops when the test
// binary exits (Main), and a watchdog stops it if the binary dies. A test
// that needs other settings (TLS, fsync on, its own pg_hba.conf) starts a
// cluster of its own with StartT.
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
	// exited is closed when cmd (the watchdog shell) has exited.
	exited chan struct{}
	bin    string
	cfg    Config
	// asUser is the command prefix that runs a program as the cluster's
	// owner (runuser as root), uid and gid that owner.
	asUser   []string
	uid, gid int
}

// Config is what a cluster of its own (StartT) changes from the shared
// one's setup.
type Config struct {
	// Settings are more server settings, "name=value", given after (so
	// over) the defaults: "fsync=on", "ssl=on".
	Settings []string
	// HBA, when set, replaces pg_hba.conf. Keep a "local" line: pgtest
	// itself connects over the Unix socket.
	HBA string
	// Files are written into the data directory before the server starts,
	// owned by the cluster's user with mode 0600 (a TLS key must be).
	Files map[string][]byte
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
	conn, err := pgx.Connect(ctx, c.SocketURL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connecting: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: creating database: %v", err)
	}
	return c.URL(name)
}

// binDir is BinDir, or skips t (fails it under CI=true) when missing.
func binDir(t testing.TB) string {
	t.Helper()
	bin := BinDir()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL is required in CI but not installed (postgresql in .ci/run)")
		}
		t.Skip("PostgreSQL not installed (no initdb in /usr/lib/postgresql/*/bin or PATH): skipping (CI=true makes this a failure)")
	}
	return bin
}

// Shared returns the binary's cluster, starting it on first use.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	bin := binDir(t)
	once.Do(func() { shared, sharedE = Start(bin) })
	if sharedE != nil {
		t.Fatalf("pgtest: starting PostgreSQL: %v", sharedE)
	}
	return shared
}

// StartT starts a cluster of its own for t with cfg, stopped when t ends.
// It skips or fails as Shared does when PostgreSQL is missing.
func StartT(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	c, err := StartConfig(binDir(t), cfg)
	if err != nil {
		t.Fatalf("pgtest: starting PostgreSQL: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
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

// URL is the URL of database name in the cluster, over TCP without TLS.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, name)
}

// SocketURL is the URL of database name over the cluster's Unix socket.
func (c *Cluster) SocketURL(name string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", c.Dir, c.Port, name)
}

// Start creates and starts a cluster with the programs in bin.
func Start(bin string) (*Cluster, error) { return StartConfig(bin, Config{}) }

// StartConfig is Start with cfg.
func StartConfig(bin string, cfg Config) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "authsmtp-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin, cfg: cfg, uid: os.Geteuid(), gid: os.Getegid()}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs the postgres user to run PostgreSQL: %w", err)
		}
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		if err := os.Chown(dir, c.uid, c.gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	data := filepath.Join(dir, "data")
	out, err := run(c.asUser, filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	files := cfg.Files
	if cfg.HBA != "" {
		files = map[string][]byte{"pg_hba.conf": []byte(cfg.HBA)}
		for k, v := range cfg.Files {
			files[k] = v
		}
	}
	for name, b := range files {
		p := filepath.Join(data, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		if err := os.Chown(p, c.uid, c.gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	for range 5 {
		if c.Port, err = freePort(); err != nil {
			return nil, err
		}
		if err = c.start(); err == nil {
			return c, nil
		}
	}
	os.RemoveAll(dir)
	return nil, err
}

// start runs postgres under a watchdog shell that stops it when this
// process is gone, so a killed test binary leaves no server behind.
func (c *Cluster) start() error {
	args := []string{
		filepath.Join(c.bin, "postgres"), "-D", filepath.Join(c.Dir, "data"),
		"-p", strconv.Itoa(c.Port), "-k", c.Dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=400",
		"-c", "shared_buffers=32MB",
	}
	for _, s := range c.cfg.Settings {
		args = append(args, "-c", s)
	}
	script := fmt.Sprintf(`%s >%s/log 2>&1 & pg=$!
trap 'kill -INT $pg; wait $pg; exit 0' TERM
while [ -d /proc/%d ] && kill -0 $pg 2>/dev/null; do sleep 1; done
kill -INT $pg 2>/dev/null; wait $pg`, strings.Join(args, " "), c.Dir, os.Getpid())
	all := append(append([]string{}, c.asUser...), "sh", "-c", script)
	c.cmd = exec.Command(all[0], all[1:]...)
	c.cmd.Dir = c.Dir
	if err := c.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	c.exited = exited
	go func() { c.cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.SocketURL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-exited:
			deadline = time.Time{}
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.cmd.Process.Kill()
	<-exited
	log, _ := os.ReadFile(filepath.Join(c.Dir, "log"))
	return fmt.Errorf("PostgreSQL did not start on port %d: %s", c.Port, log)
}

// stopServer asks the watchdog shell to stop the server (a fast shutdown)
// and waits, killing it after 15 s.
func (c *Cluster) stopServer() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// Stop stops the server and removes the directory.
func (c *Cluster) Stop() {
	c.stopServer()
	os.RemoveAll(c.Dir)
}

// Restart stops the server and starts it again on the same port and data
// (a database restart under load).
func (c *Cluster) Restart() error {
	c.stopServer()
	return c.start()
}

// Crash stops the server as a crash would (an immediate shutdown: every
// process quits at once, nothing is flushed, the next start recovers
// from the write-ahead log) and starts it again on the same port.
func (c *Cluster) Crash() error {
	b, err := os.ReadFile(filepath.Join(c.Dir, "data", "postmaster.pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return fmt.Errorf("reading postmaster.pid: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		return err
	}
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("PostgreSQL did not quit on SIGQUIT")
	}
	return c.start()
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

// Exec runs a statement as the cluster's superuser and returns the rows
// it affected, so tests of the store (which may not import pgx) can
// create roles or end backends.
func (c *Cluster) Exec(t testing.TB, sql string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.SocketURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return tag.RowsAffected()
}
