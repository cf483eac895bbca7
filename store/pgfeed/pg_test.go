package pgfeed_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/authsmtp/authsmtp/internal/testutil"
)

// pgServer is a throwaway PostgreSQL cluster on 127.0.0.1 for one test.
type pgServer struct {
	dir, url string
	port     int
	run      func(args ...string) error
}

// startPostgres runs initdb and pg_ctl (as the postgres user when the
// test runs as root, which PostgreSQL refuses) and stops the server when
// the test ends.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	initdb := testutil.NeedTool(t, "initdb")
	pgctl := testutil.NeedTool(t, "pg_ctl")
	dir, err := os.MkdirTemp("", "pgfeed-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	wrap := func(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
	if os.Geteuid() == 0 {
		if err := exec.Command("chown", "postgres:", dir).Run(); err != nil {
			t.Skipf("running as root with no postgres user to run PostgreSQL: %v", err)
		}
		wrap = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	data := filepath.Join(dir, "data")
	if out, err := wrap(initdb, "-D", data, "-A", "trust", "-U", "authsmtp", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s := &pgServer{dir: dir, port: port, url: fmt.Sprintf("postgres://authsmtp@127.0.0.1:%d/postgres?sslmode=disable", port)}
	s.run = func(args ...string) error {
		out, err := wrap(pgctl, append([]string{"-D", data, "-l", filepath.Join(dir, "log"), "-w"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_ctl %v: %v\n%s", args, err, out)
		}
		return nil
	}
	if err := s.run("-o", "-h 127.0.0.1 -p "+strconv.Itoa(port)+" -k "+dir+" -c fsync=off", "start"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.run("-m", "immediate", "stop") })
	return s
}

// restart stops the server at once (as a crash would) and starts it again.
func (s *pgServer) restart(t *testing.T) {
	t.Helper()
	if err := s.run("-m", "immediate", "restart"); err != nil {
		t.Fatal(err)
	}
}
