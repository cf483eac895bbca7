// Package e2e holds the tests that build the authsmtp binary and run it as
// a real process: serve on loopback ports, the admin CLI through the
// control socket, signals, restarts, backups, the shipped unit and image
// files. The binary is built once per test run (authsmtpBinary).
//
// Tests here may import anything but main; nothing imports this package.
package e2e

import (
	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"

	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	binDir  string
	binOnce sync.Once
	binPath string
	binErr  error
)

// TestMain removes the binary after the run.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authsmtp-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := pgtest.Main(m) // stops the PostgreSQL of the cluster tests
	os.RemoveAll(dir)
	os.Exit(code)
}

// authsmtpBinary builds the binary the first time a test asks for it
// (the build cache makes it cheap) and returns its path.
func authsmtpBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		binPath = filepath.Join(binDir, "authsmtp")
		out, err := exec.Command(goCmd, "build", "-o", binPath, "github.com/authsmtp/authsmtp").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// repoFile is a file of the repository, by its path from the root.
func repoFile(path string) string {
	return filepath.Join("..", "..", filepath.FromSlash(path))
}
