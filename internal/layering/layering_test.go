// Package layering holds no code: its test checks that the domain
// packages stay free of HTTP (docs/architecture.md: HTTP stays at the
// edge, in internal/server).
package layering

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// TestServerLinksNoCodeGenerator: the server binary links none of the
// code generators the project builds with, nor packages whose
// initializers fill the heap with data the server never reads. entgql's
// package holds its generator beside its run-time types (ent/relay has
// those), and zxcvbn's keeps six word lists on the heap
// (internal/password embeds the one it uses): 6.5 MB of binary and
// over 10 MiB of resident memory together (docs/performance.md).
func TestServerLinksNoCodeGenerator(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/gqlauth/gqlauth/cmd/gqlauth").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/gqlauth/gqlauth/ent/relay") {
		t.Fatalf("go list -deps does not list ent/relay: %d packages", len(deps))
	}
	for _, dep := range deps {
		for _, banned := range []string{
			"entgo.io/contrib/entgql", "entgo.io/ent/entc", "github.com/99designs/gqlgen/codegen",
			"github.com/99designs/gqlgen/api", "golang.org/x/tools", "go/types", "github.com/trustelem/zxcvbn",
		} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("cmd/gqlauth links %s", dep)
			}
		}
	}
}
