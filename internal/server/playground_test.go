package server

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/gqlauth/gqlauth/graph"
	"github.com/gqlauth/gqlauth/internal/server/playground"
)

// notInPlayground are root fields the example document leaves out on
// purpose: entgql's generic Relay lookups, not operations of gqlauth.
var notInPlayground = map[string]bool{"node": true, "nodes": true}

// TestPlaygroundDocumentCoversSchema checks the playground's example
// document: every query and mutation has an example, and every example
// is valid against the schema, so the playground never opens on a
// document that fails.
func TestPlaygroundDocumentCoversSchema(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	doc, err := parser.ParseQuery(&ast.Source{Name: "playground.graphql", Input: playgroundDocument})
	if err != nil {
		t.Fatalf("playground document does not parse: %v", err)
	}
	if len(doc.Fragments) > 0 {
		t.Fatal("keep the playground document free of fragments: each operation must run on its own")
	}

	covered := map[string]bool{}
	for _, op := range doc.Operations {
		if op.Name == "" {
			t.Fatal("every operation in the playground document needs a name, to pick it in GraphiQL")
		}
		root := schema.Query
		if op.Operation == ast.Mutation {
			root = schema.Mutation
		}
		for _, sel := range op.SelectionSet {
			f, ok := sel.(*ast.Field)
			if !ok {
				t.Fatalf("operation %s: only plain fields at the root, please", op.Name)
			}
			covered[f.Name] = true
			if root.Fields.ForName(f.Name) == nil {
				t.Errorf("operation %s uses %s, which the schema does not have", op.Name, f.Name)
			}
		}
		var one strings.Builder
		formatter.NewFormatter(&one).FormatQueryDocument(&ast.QueryDocument{Operations: ast.OperationList{op}})
		if _, errs := gqlparser.LoadQuery(schema, one.String()); len(errs) > 0 {
			t.Errorf("operation %s is not valid against the schema: %v", op.Name, errs)
		}
	}

	for _, root := range []*ast.Definition{schema.Query, schema.Mutation} {
		for _, f := range root.Fields {
			if strings.HasPrefix(f.Name, "__") || notInPlayground[f.Name] {
				continue
			}
			if !covered[f.Name] {
				t.Errorf("%s.%s has no example in internal/server/playground.graphql", root.Name, f.Name)
			}
		}
	}
}

// TestPlaygroundPage checks the page GraphiQL runs in: it carries the
// example document and the headers editor settings, and loads GraphiQL,
// React and ReactDOM from gqlauth itself with their integrity hashes,
// under a CSP that allows scripts from 'self' only.
func TestPlaygroundPage(t *testing.T) {
	h := securityHeaders(playgroundHandler("gqlauth playground", "/graphql"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`<script id="playground-config" type="application/json">{"endpoint":"/graphql","defaultQuery":"# Welcome to gqlauth!`,
		`<script src="/playground/graphiql-4.1.2/graphiql.min.js" integrity="sha256-hnImuor1znlJkD/FOTL3jayfS/xsyNoP04abi8bFJWs="></script>`,
		`<script src="/playground/react-18.2.0/react.production.min.js" integrity="sha256-`,
		`<link rel="stylesheet" href="/playground/graphiql-4.1.2/graphiql.min.css" integrity="sha256-`,
		`<script src="/playground/playground.js"></script>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("playground page lacks %q", want)
		}
	}
	if strings.Contains(body, "https://") || strings.Contains(body, "<script>") {
		t.Error("the page loads something from another origin, or has an inline script")
	}
	for _, want := range []string{"mutation SignUp {", "query Me {", "isHeadersEditorEnabled: true", "defaultEditorToolsVisibility: 'headers'", "shouldPersistHeaders: false", "X-CSRF-Token"} {
		if !strings.Contains(playgroundDocument+string(playgroundScript), want) {
			t.Errorf("the playground lacks %q", want)
		}
	}
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self';", "style-src 'self' 'unsafe-inline';", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "https:") || strings.Contains(csp, "cdn") {
		t.Errorf("CSP %q still allows other origins", csp)
	}
}

// TestPlaygroundAssetsMatchPinnedPackages checks the embedded GraphiQL,
// React and ReactDOM files: each has the SRI hash playground.Assets pins,
// each package version is the one examples/ts pins (package.json and
// package-lock.json), and no other file is embedded. `make generate`
// copies them; this catches a hand-edited file or a forgotten pin.
func TestPlaygroundAssetsMatchPinnedPackages(t *testing.T) {
	var pkg struct{ DevDependencies map[string]string }
	var lock struct {
		Packages map[string]struct{ Version, Integrity string }
	}
	for file, v := range map[string]any{"package.json": &pkg, "package-lock.json": &lock} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "ts", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	dist, err := fs.Sub(playgroundDist, "playground/dist")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, a := range playground.Assets {
		listed[a.Path()] = true
		if got := pkg.DevDependencies[a.Package]; got != a.Version {
			t.Errorf("%s: examples/ts/package.json pins %q, playground.Assets %q", a.Package, got, a.Version)
		}
		if got := lock.Packages["node_modules/"+a.Package].Version; got != a.Version {
			t.Errorf("%s: package-lock.json has %q, playground.Assets %q", a.Package, got, a.Version)
		}
		data, err := fs.ReadFile(dist, a.Path())
		if err != nil {
			t.Errorf("%s is not embedded (run make generate): %v", a.Path(), err)
			continue
		}
		if got := playground.SRI(data); got != a.SRI {
			t.Errorf("%s has SRI %s, playground.Assets pins %s", a.Path(), got, a.SRI)
		}
	}
	_ = fs.WalkDir(dist, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !listed[p] && path.Base(p) != "LICENSE" {
			t.Errorf("%s is embedded but not in playground.Assets (run make generate)", p)
		}
		return err
	})
}

// TestPlaygroundFiles checks how the files are served: the right type,
// a year of caching for the versioned assets, revalidation for
// playground.js, 304 for a matching ETag, 404 for anything else.
func TestPlaygroundFiles(t *testing.T) {
	h := playgroundFiles()
	get := func(path, etag string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, tc := range []struct{ path, typ, cache string }{
		{"/playground/graphiql-4.1.2/graphiql.min.js", "text/javascript", "immutable"},
		{"/playground/graphiql-4.1.2/graphiql.min.css", "text/css", "immutable"},
		{"/playground/playground.js", "text/javascript", "no-cache"},
	} {
		rec := get(tc.path, "")
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.typ) ||
			!strings.Contains(rec.Header().Get("Cache-Control"), tc.cache) || rec.Body.Len() == 0 {
			t.Errorf("%s: %d %v", tc.path, rec.Code, rec.Header())
		}
		if again := get(tc.path, rec.Header().Get("ETag")); again.Code != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", tc.path, again.Code)
		}
	}
	for _, path := range []string{"/playground/", "/playground/graphiql-4.1.2/", "/playground/graphiql-4.1.2/LICENSE", "/playground/../server.go"} {
		if rec := get(path, ""); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, rec.Code)
		}
	}
}

// TestPlaygroundFilesStayInTheBinary checks that mounting the playground
// copies none of GraphiQL's files onto the heap (they were 1.6 MB of a
// 3.7 MB live heap, which the garbage collector's target doubles), and
// that an asset is still served whole, as embedded.
func TestPlaygroundFilesStayInTheBinary(t *testing.T) {
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	h := playgroundFiles()
	grew := int64(heap()) - int64(before)
	if grew > 256<<10 {
		t.Fatalf("mounting the playground grew the live heap by %d KiB", grew>>10)
	}
	const asset = "graphiql-4.1.2/graphiql.min.js"
	info, err := fs.Stat(playgroundDist, "playground/dist/"+asset)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, playgroundPrefix+asset, nil))
	if rec.Code != http.StatusOK || int64(rec.Body.Len()) != info.Size() {
		t.Fatalf("%s: %d with %d bytes, want the %d embedded", asset, rec.Code, rec.Body.Len(), info.Size())
	}
	runtime.KeepAlive(h)
}
