package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/gqlauth/gqlauth/graph"
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
// example document and the headers editor, loads GraphiQL with integrity
// hashes from an origin the CSP allows.
func TestPlaygroundPage(t *testing.T) {
	rec := httptest.NewRecorder()
	securityHeaders(playgroundHandler("gqlauth playground", "/graphql")).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		"mutation SignUp {", "query Me {", "mutation Refresh(", "mutation Logout {",
		"isHeadersEditorEnabled: true", "defaultEditorToolsVisibility: 'headers'", "shouldPersistHeaders: false",
		`src="https://cdn.jsdelivr.net/npm/graphiql@4.1.2/graphiql.min.js" integrity="sha256-`,
		"X-CSRF-Token",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("playground page lacks %q", want)
		}
	}
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net", "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q does not allow the playground: lacks %q", csp, want)
		}
	}
}
