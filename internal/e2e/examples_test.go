package e2e

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// get fetches path from the test server and returns status, headers and body.
func getPath(t *testing.T, srv *apptest.Server, path string) (int, http.Header, string) {
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
	status, h, body := getPath(t, srv, "/schema.graphql")
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
		{"production default", map[string]string{"APP_ENV": "production", "BCRYPT_COST": "10", "COOKIE_SECURE": "true", "EMAIL_VERIFICATION": "off"}, http.StatusNotFound},
		{"enabled", map[string]string{"EXAMPLES_ENABLED": "true"}, http.StatusOK},
		{"disabled in development", map[string]string{"APP_ENV": "development", "EXAMPLES_ENABLED": "false"}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := apptest.New(t, apptest.Backends[0], tc.env)
			status, h, body := getPath(t, srv, "/examples/spa/")
			if status != tc.want {
				t.Fatalf("GET /examples/spa/: %d, want %d", status, tc.want)
			}
			if status != http.StatusOK {
				return
			}
			if !strings.Contains(body, `<script src="app.js"`) || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Fatalf("GET /examples/spa/ is not the app: %s %.200s", h.Get("Content-Type"), body)
			}
			if status, h, _ := getPath(t, srv, "/examples/spa/app.js"); status != http.StatusOK || !strings.Contains(h.Get("Content-Type"), "javascript") {
				t.Fatalf("GET /examples/spa/app.js: %d %s", status, h.Get("Content-Type"))
			}
		})
	}
}
