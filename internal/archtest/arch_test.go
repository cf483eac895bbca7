package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/authsmtp/authsmtp"

// pkg is what `go list -json` says of one package.
type pkg struct {
	ImportPath   string
	Dir          string
	GoFiles      []string // non-test Go files, as in the build
	Imports      []string // direct, non-test
	Deps         []string // transitive, non-test
	TestImports  []string
	XTestImports []string
}

// rel is the package's path inside the module ("" for the root).
func rel(path string) string {
	if path == module {
		return ""
	}
	return strings.TrimPrefix(path, module+"/")
}

// under reports whether the package path p is tree or inside it.
func under(p, tree string) bool {
	r := rel(p)
	return strings.HasPrefix(p, module) && (r == tree || strings.HasPrefix(r, tree+"/"))
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goCmd, "list", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// TestArchitecture fails when an import points the wrong way:
//
//   - store imports no protocol package (smtp, imap, webui, acme) and
//     nothing of internal/ that sits above it (serve, cli, metrics);
//   - smtp, imap and webui do not import each other;
//   - webui imports neither bbolt nor go-smtp (not even in its tests):
//     it sees the store through its own interfaces, and refusals as its
//     own error type;
//   - only store/kv/boltkv imports bbolt, and under store only
//     store/kv/pgkv and store/pgfeed import pgx (tests included): the
//     store's rules are written once, over store/kv;
//   - nothing imports main; only main imports internal/serve; only
//     main and internal/serve import internal/cli (and the e2e tests);
//   - the root holds one Go file, main.go.
func TestArchitecture(t *testing.T) {
	pkgs := listPackages(t)
	forbid := func(p pkg, deps []string, why string, bad func(dep string) bool) {
		t.Helper()
		for _, d := range deps {
			if bad(d) {
				t.Errorf("%s imports %s: %s", p.ImportPath, d, why)
			}
		}
	}
	protocols := []string{"smtp", "imap", "webui", "acme"}
	for _, p := range pkgs {
		allImports := append(append(append([]string{}, p.Imports...), p.TestImports...), p.XTestImports...)
		if under(p.ImportPath, "store") {
			forbid(p, p.Deps, "the store imports no protocol package", func(d string) bool {
				for _, tree := range append(protocols, "internal/serve", "internal/cli", "internal/metrics") {
					if under(d, tree) {
						return true
					}
				}
				return false
			})
		}
		for _, tree := range []string{"smtp", "imap", "webui"} {
			if !under(p.ImportPath, tree) {
				continue
			}
			forbid(p, p.Deps, "smtp, imap and webui do not import each other", func(d string) bool {
				for _, other := range []string{"smtp", "imap", "webui"} {
					if other != tree && under(d, other) {
						return true
					}
				}
				return false
			})
			for _, above := range []string{"internal/serve", "internal/cli", "internal/config"} {
				forbid(p, p.Deps, "a protocol package is configured by its caller", func(d string) bool { return under(d, above) })
			}
		}
		if under(p.ImportPath, "webui") {
			forbid(p, allImports, "webui sees the store through its interfaces and knows nothing of SMTP", func(d string) bool {
				return d == "go.etcd.io/bbolt" || strings.HasPrefix(d, "go.etcd.io/bbolt/") ||
					d == "github.com/emersion/go-smtp" || strings.HasPrefix(d, "github.com/emersion/go-smtp/")
			})
		}
		if !under(p.ImportPath, "store/kv/boltkv") {
			forbid(p, allImports, "bbolt is reached only through store/kv/boltkv", func(d string) bool {
				return d == "go.etcd.io/bbolt" || strings.HasPrefix(d, "go.etcd.io/bbolt/")
			})
		}
		if under(p.ImportPath, "store") && !under(p.ImportPath, "store/kv/pgkv") && !under(p.ImportPath, "store/pgfeed") {
			forbid(p, allImports, "pgx is reached only through store/kv/pgkv", func(d string) bool {
				return strings.HasPrefix(d, "github.com/jackc/pgx/")
			})
		}
		forbid(p, allImports, "nothing imports main", func(d string) bool { return d == module })
		if p.ImportPath != module {
			forbid(p, allImports, "only main starts the server", func(d string) bool { return under(d, "internal/serve") })
		}
		if p.ImportPath != module && !under(p.ImportPath, "internal/serve") && !under(p.ImportPath, "internal/e2e") && !under(p.ImportPath, "internal/cli") {
			forbid(p, allImports, "the admin commands are run by main and the server only", func(d string) bool { return under(d, "internal/cli") })
		}
	}

	var root string
	for _, p := range pkgs {
		if p.ImportPath == module {
			root = p.Dir
		}
	}
	if root == "" {
		t.Fatal("go list did not list the root package")
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".go") && e.Name() != "main.go" {
			t.Errorf("the root holds %s: main.go is the only Go file there (put it under internal/ or a package)", e.Name())
		}
	}
}
