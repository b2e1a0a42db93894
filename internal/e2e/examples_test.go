package e2e

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// get fetches path from the test server and returns status, headers and body.
func get(t *testing.T, srv *apptest.Server, path string) (int, http.Header, string) {
	t.Helper()
	res, err := http.Get(srv.HTTP.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

// TestSchemaEndpointServesCommittedSDL checks /schema.graphql is exactly
// the committed graph/schema.graphql, which CI keeps current.
func TestSchemaEndpointServesCommittedSDL(t *testing.T) {
	committed, err := os.ReadFile("../../graph/schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	srv := apptest.New(t, apptest.Backends[0], nil)
	status, h, body := get(t, srv, "/schema.graphql")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /schema.graphql: %d %s", status, h.Get("Content-Type"))
	}
	if body != string(committed) {
		t.Fatal("/schema.graphql differs from graph/schema.graphql: run make generate")
	}
}

// TestExamplesFollowConfig checks the example app is served only when
// EXAMPLES_ENABLED is on, which it is by default in development only.
func TestExamplesFollowConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"test default", nil, http.StatusNotFound},
		{"development default", map[string]string{"APP_ENV": "development"}, http.StatusOK},
		{"production default", map[string]string{"APP_ENV": "production", "BCRYPT_COST": "10", "COOKIE_SECURE": "true"}, http.StatusNotFound},
		{"enabled", map[string]string{"EXAMPLES_ENABLED": "true"}, http.StatusOK},
		{"disabled in development", map[string]string{"APP_ENV": "development", "EXAMPLES_ENABLED": "false"}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := apptest.New(t, apptest.Backends[0], tc.env)
			status, h, body := get(t, srv, "/examples/spa/")
			if status != tc.want {
				t.Fatalf("GET /examples/spa/: %d, want %d", status, tc.want)
			}
			if status != http.StatusOK {
				return
			}
			if !strings.Contains(body, `<script src="app.js"`) || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Fatalf("GET /examples/spa/ is not the app: %s %.200s", h.Get("Content-Type"), body)
			}
			if status, h, _ := get(t, srv, "/examples/spa/app.js"); status != http.StatusOK || !strings.Contains(h.Get("Content-Type"), "javascript") {
				t.Fatalf("GET /examples/spa/app.js: %d %s", status, h.Get("Content-Type"))
			}
		})
	}
}

// TestPlaygroundInBrowser opens the playground page in Chromium and reads
// back what GraphiQL is handed: the example document exactly as written
// in internal/server/playground.graphql, and headers ready for a bearer
// token. (GraphiQL itself comes from a CDN the tests cannot reach.)
func TestPlaygroundInBrowser(t *testing.T) {
	doc, err := os.ReadFile("../server/playground.graphql")
	if err != nil {
		t.Fatal(err)
	}
	srv := apptest.New(t, apptest.Backends[0], nil)
	ctx := newBrowser(t)
	step(t, ctx, "open the playground", chromedp.Navigate(srv.HTTP.URL+"/"))
	if got := step(t, ctx, "read defaultQuery", chromedp.Evaluate[string](`defaultQuery`)); got != string(doc) {
		t.Errorf("the playground opens on a different document than playground.graphql:\n%s", got)
	}
	auth := step(t, ctx, "read defaultHeaders", chromedp.Evaluate[string](`JSON.parse(defaultHeaders).Authorization`))
	if auth != "Bearer " {
		t.Errorf("default Authorization header = %q, want a \"Bearer \" to complete", auth)
	}
	vars := step(t, ctx, "read defaultVariables", chromedp.Evaluate[string](`Object.keys(JSON.parse(defaultVariables)).sort().join(",")`))
	if vars != "tokenId,userId" {
		t.Errorf("default variables = %q, want tokenId,userId", vars)
	}
}
