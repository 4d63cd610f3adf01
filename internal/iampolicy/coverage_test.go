package iampolicy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// storeCalls returns the SDK operations the non-test Go files of dir
// call: c.client.Op(...) and pkg.NewOpPaginator(...).
func storeCalls(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	paginator := regexp.MustCompile(`^New(\w+)Paginator$`)
	var ops []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch x := sel.X.(type) {
			case *ast.SelectorExpr:
				// Options() reads the client's settings; every other
				// method of an SDK client is a request.
				if x.Sel.Name == "client" && sel.Sel.Name != "Options" {
					ops = append(ops, sel.Sel.Name)
				}
			case *ast.Ident:
				if m := paginator.FindStringSubmatch(sel.Sel.Name); m != nil && (x.Name == "s3" || x.Name == "glacier") {
					ops = append(ops, m[1])
				}
			}
			return true
		})
	}
	slices.Sort(ops)
	return slices.Compact(ops)
}

func tableAPIs(calls []Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.API)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestTablesMatchStoreCode checks the call tables against the store code:
// every SDK operation the S3 and vault stores call has its IAM actions in
// the tables (so the policies let grsync work), and the tables list no
// operation the stores do not call (so the policies grant nothing more).
// A change to a store that calls a new operation fails here until the
// table, and so the policy, says which action it needs.
func TestTablesMatchStoreCode(t *testing.T) {
	for _, c := range []struct {
		dir   string
		table []Call
	}{
		{"../store/s3store", S3Calls},
		{"../store/vault", VaultCalls},
	} {
		code, table := storeCalls(t, c.dir), tableAPIs(c.table)
		if len(code) < 5 {
			t.Fatalf("%s: found only %v: the scan is broken", c.dir, code)
		}
		for _, op := range code {
			if !slices.Contains(table, op) {
				t.Errorf("%s calls %s, which the table (and so the policy) lacks", c.dir, op)
			}
		}
		for _, op := range table {
			if !slices.Contains(code, op) {
				t.Errorf("the table of %s names %s, which the store never calls: the policy grants too much", c.dir, op)
			}
		}
	}
	for _, f := range S3Fields {
		if !slices.Contains(tableAPIs(S3Calls), f.API) {
			t.Errorf("field action %v belongs to %s, which the store never calls", f.Actions, f.API)
		}
	}
}
