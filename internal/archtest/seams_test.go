package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"
)

// seamUsers are the trees that see the store only through interfaces
// they declare themselves (smtp.Store, mx.Store, queue.Store,
// dkim.Keys, imap.Store, webui.Store, acme.CertStore, metrics.Store).
var seamUsers = []string{"smtp", "imap", "webui", "acme", "internal/metrics"}

// TestStoreSeams fails when a non-test file of a protocol package names
// the type store.Store: each takes the small interface it declares, so a
// second backend implements what they use and nothing more. Tests may
// name it (the compile-time guards that *store.Store implements each
// interface live in test files).
func TestStoreSeams(t *testing.T) {
	checked := 0
	for _, p := range listPackages(t) {
		in := false
		for _, tree := range seamUsers {
			in = in || under(p.ImportPath, tree)
		}
		if !in {
			continue
		}
		for _, name := range p.GoFiles {
			path := filepath.Join(p.Dir, name)
			for _, pos := range storeTypeUses(t, path) {
				t.Errorf("%s: %s names store.Store: declare the methods this package needs in its own interface", rel(p.ImportPath), pos)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d files checked: the package list is wrong", checked)
	}
}

// storeTypeUses returns the positions in the Go file at path where the
// identifier Store is selected from the store package, under whatever
// name the file imports it.
func storeTypeUses(t *testing.T, path string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, imp := range f.Imports {
		ip, _ := strconv.Unquote(imp.Path.Value)
		if ip != module+"/store" {
			continue
		}
		switch {
		case imp.Name == nil:
			names["store"] = true
		case imp.Name.Name == ".":
			t.Errorf("%s dot-imports the store", path)
		default:
			names[imp.Name.Name] = true
		}
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Store" {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && names[id.Name] {
			out = append(out, fset.Position(sel.Pos()).String())
		}
		return true
	})
	return out
}
