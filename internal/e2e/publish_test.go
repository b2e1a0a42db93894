package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// production are the settings of a production test server.
var production = map[string]string{"APP_ENV": "production", "BCRYPT_COST": "10", "EMAIL_VERIFICATION": "off"}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestSchemaEndpointFollowsSettings checks /schema.graphql is served as
// introspection is (off in production: the SDL spells out the same
// schema) unless SCHEMA_ENABLED says otherwise, and that a POST to it
// is a JSON 405 naming GET in Allow.
func TestSchemaEndpointFollowsSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"test default", nil, http.StatusOK},
		{"production default", production, http.StatusNotFound},
		{"production, SCHEMA_ENABLED=true", with(production, "SCHEMA_ENABLED", "true"), http.StatusOK},
		{"production, INTROSPECTION_ENABLED=true", with(production, "INTROSPECTION_ENABLED", "true"), http.StatusOK},
		{"introspection off", map[string]string{"INTROSPECTION_ENABLED": "false"}, http.StatusNotFound},
		{"introspection off, SCHEMA_ENABLED=true", map[string]string{"INTROSPECTION_ENABLED": "false", "SCHEMA_ENABLED": "true"}, http.StatusOK},
		{"SCHEMA_ENABLED=false", map[string]string{"SCHEMA_ENABLED": "false"}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := apptest.New(t, apptest.Backends[0], tc.env)
			status, _, body := getPath(t, srv, "/schema.graphql")
			if status != tc.want {
				t.Fatalf("GET /schema.graphql: %d, want %d", status, tc.want)
			}
			if status == http.StatusOK && !strings.Contains(body, "type Query") {
				t.Fatalf("GET /schema.graphql is not the SDL: %.200s", body)
			}
			if status != http.StatusOK {
				return
			}
			res, err := http.Post(srv.HTTP.URL+"/schema.graphql", "application/json", strings.NewReader(`{"query":"{ __schema { queryType { name } } }"}`))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var out struct {
				Errors []struct {
					Message    string
					Extensions struct{ Code string }
				}
			}
			if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
				t.Fatalf("POST /schema.graphql: the 405 body is not JSON: %v", err)
			}
			if res.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(res.Header.Get("Allow"), "GET") ||
				!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") ||
				len(out.Errors) != 1 || out.Errors[0].Extensions.Code != "METHOD_NOT_ALLOWED" {
				t.Fatalf("POST /schema.graphql: %d Allow=%q %s %+v", res.StatusCode, res.Header.Get("Allow"), res.Header.Get("Content-Type"), out)
			}
		})
	}
}

// TestMetricsInProduction checks that in production /metrics is not on
// the main port unless METRICS_TOKEN guards it, that the token is
// required wherever it is set (main port or METRICS_ADDR), and that
// outside production the main port still serves it openly.
func TestMetricsInProduction(t *testing.T) {
	const token = "metrics-token-0123456789"
	auth := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

	open := apptest.New(t, apptest.Backends[0], production)
	if status, _, _ := opsGet(t, open.HTTP.URL+"/metrics", nil); status != http.StatusNotFound {
		t.Fatalf("production /metrics on the main port without METRICS_TOKEN = %d, want 404", status)
	}

	guarded := apptest.New(t, apptest.Backends[0], with(production, "METRICS_TOKEN", token))
	for _, h := range []http.Header{nil, auth("wrong-token-0123456789"), {"Authorization": {token}}} {
		if status, hdr, _ := opsGet(t, guarded.HTTP.URL+"/metrics", h); status != http.StatusUnauthorized || hdr.Get("WWW-Authenticate") == "" {
			t.Fatalf("/metrics with %v = %d, want 401 with WWW-Authenticate", h, status)
		}
	}
	if status, _, body := opsGet(t, guarded.HTTP.URL+"/metrics", auth(token)); status != http.StatusOK || !strings.Contains(string(body), "gqlauth_") {
		t.Fatalf("/metrics with the token = %d", status)
	}

	apart := apptest.New(t, apptest.Backends[0], with(production, "METRICS_ADDR", "127.0.0.1:0", "METRICS_TOKEN", token))
	if status, _, _ := opsGet(t, apart.HTTP.URL+"/metrics", auth(token)); status != http.StatusNotFound {
		t.Fatalf("/metrics on the main port with METRICS_ADDR set = %d, want 404", status)
	}
	ms := httptest.NewServer(apart.App.MetricsHandler)
	defer ms.Close()
	if status, _, _ := opsGet(t, ms.URL, nil); status != http.StatusUnauthorized {
		t.Fatalf("METRICS_ADDR without the token = %d, want 401", status)
	}
	if status, _, _ := opsGet(t, ms.URL, auth(token)); status != http.StatusOK {
		t.Fatalf("METRICS_ADDR with the token = %d, want 200", status)
	}

	dev := apptest.New(t, apptest.Backends[0], map[string]string{"APP_ENV": "development"})
	if status, _, _ := opsGet(t, dev.HTTP.URL+"/metrics", nil); status != http.StatusOK {
		t.Fatalf("development /metrics = %d, want 200", status)
	}
}

// TestIntrospectionShowsThePublishedSchema checks what introspection
// tells code generators: no @defer (a document using it is refused, as
// gqlauth cannot deliver deferred parts) and none of gqlgen's own
// directives, and the format of each custom scalar as specifiedByURL.
func TestIntrospectionShowsThePublishedSchema(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	c := srv.Client()
	var out struct {
		Schema struct{ Directives []struct{ Name string } }
		Time   struct{ SpecifiedByURL string }
		Cursor struct{ SpecifiedByURL string }
	}
	c.Do(t, `{ __schema { directives { name } } Time: __type(name: "Time") { specifiedByURL } Cursor: __type(name: "Cursor") { specifiedByURL } }`, nil).Decode(t, &out)
	for _, d := range out.Schema.Directives {
		switch d.Name {
		case "defer", "goModel", "goField":
			t.Errorf("introspection lists @%s", d.Name)
		}
	}
	if !strings.Contains(out.Time.SpecifiedByURL, "rfc3339") || !strings.Contains(out.Cursor.SpecifiedByURL, "connections.htm#sec-Cursor") {
		t.Errorf("specifiedByURL: Time %q, Cursor %q", out.Time.SpecifiedByURL, out.Cursor.SpecifiedByURL)
	}
	res := c.Do(t, `{ ... @defer { __typename } }`, nil)
	if res.Code() != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(res.Errors[0].Message, "defer") {
		t.Fatalf("a document with @defer should be refused: %s", res.Body)
	}
}
