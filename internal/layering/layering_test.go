// Package layering holds no code: its test checks that the domain
// packages stay free of HTTP (docs/architecture.md: HTTP stays at the
// edge, in internal/server).
package layering

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// domain are the packages that take and return values: none of them may
// import net/http (not even for a type), so that no *http.Request or
// ResponseWriter can reach them.
var domain = []string{"account", "authn", "policy", "session", "validate", "request", "token", "apierr", "database", "ratelimit", "audit", "live"}

func TestDomainKnowsNoHTTP(t *testing.T) {
	for _, pkg := range domain {
		dir := filepath.Join("..", pkg)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		files := 0
		for _, e := range entries {
			name := e.Name()
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			files++
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if path == "net/http" || strings.HasPrefix(path, "net/http/") {
					t.Errorf("internal/%s/%s imports %s: HTTP belongs in internal/server", pkg, name, path)
				}
			}
		}
		if files == 0 {
			t.Errorf("internal/%s has no Go files: the list above is out of date", pkg)
		}
	}
}
