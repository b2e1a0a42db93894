package server

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// module is gqlauth's module path.
const module = "github.com/gqlauth/gqlauth"

// TestServerIsHTTPOnly keeps internal/server (and the packages under it)
// the HTTP layer: it mounts the GraphQL handler graph builds and knows
// nothing of the data model, so it imports no ent package (entgo.io/...
// or gqlauth's ent/...), and of graph only the package itself (NewHandler)
// and graph/sdl. Test files are left out: they may drive the real schema.
func TestServerIsHTTPOnly(t *testing.T) {
	forbidden := func(path string) string {
		switch {
		case path == "entgo.io" || strings.HasPrefix(path, "entgo.io/"):
			return "an ent package"
		case path == module+"/ent" || strings.HasPrefix(path, module+"/ent/"):
			return "gqlauth's ent code"
		case strings.HasPrefix(path, module+"/graph/") && path != module+"/graph/sdl":
			return "a part of graph other than NewHandler and graph/sdl"
		}
		return ""
	}
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if why := forbidden(p); why != "" {
				t.Errorf("internal/server/%s imports %s, %s: GraphQL and the data model belong in graph (graph.NewHandler)", path, p, why)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("read the imports of %d files only; is the test in internal/server?", files)
	}
}
