package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// auditExceptions are the graphql-http server audits gqlauth is allowed
// not to pass, by audit id, each with the reason (docs/clients.md, "HTTP").
// There are none: every audit of graphql-http 1.23.1 is ok.
var auditExceptions = map[string]string{}

// runNode runs a script of the pinned JavaScript tooling (examples/ts)
// with node and returns its standard output; a failure fails the test
// with the script's output.
func runNode(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	dir, node := apptest.NodeTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes()
}

// TestGraphQLOverHTTPAudit runs the graphql-http package's server audits
// (the GraphQL-over-HTTP spec's conformance checks, examples/ts/audit.mjs)
// against a live gqlauth: every audit must be ok unless auditExceptions
// lists it, and an exception that has become ok must be removed.
func TestGraphQLOverHTTPAudit(t *testing.T) {
	apptest.NodeTools(t)
	srv := apptest.New(t, apptest.Backends[0], nil)
	var results []struct {
		ID, Name, Status, Reason string
		HTTPStatus               int
	}
	out := runNode(t, nil, "audit.mjs", srv.URL())
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("audit output is not JSON: %v\n%s", err, out)
	}
	if len(results) < 61 {
		t.Fatalf("the audit ran %d checks, graphql-http 1.23.1 has 61", len(results))
	}
	ok := 0
	for _, r := range results {
		_, excused := auditExceptions[r.ID]
		switch {
		case r.Status == "ok" && excused:
			t.Errorf("audit %s (%s) passes now: remove it from auditExceptions", r.ID, r.Name)
		case r.Status == "ok":
			ok++
		case !excused:
			t.Errorf("audit %s %s: %s (%s; HTTP %d)", r.ID, r.Status, r.Name, r.Reason, r.HTTPStatus)
		}
	}
	t.Logf("graphql-http audit: %d of %d ok, %d excused", ok, len(results), len(auditExceptions))
}

// TestResponseMediaTypes checks the GraphQL-over-HTTP answers the audit
// does not cover: the status per negotiated media type for a request
// that fails before execution and one that fails during it, a mutation
// over GET (405 with Allow), an Accept nothing satisfies (406), and GET
// parameters of the wrong type (400).
func TestResponseMediaTypes(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	c := srv.Client()
	post := func(accept, body string) *apptest.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL(), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		return c.Send(t, req)
	}
	const grj = "application/graphql-response+json"
	for _, tc := range []struct {
		name, accept, body string
		status             int
		media, code        string
		data               bool
	}{
		{"validation failure, no Accept", "", `{"query":"{ nope }"}`, 200, "application/json", "GRAPHQL_VALIDATION_FAILED", false},
		{"validation failure, application/json", "application/json", `{"query":"{ nope }"}`, 200, "application/json", "GRAPHQL_VALIDATION_FAILED", false},
		{"validation failure, graphql-response+json", grj, `{"query":"{ nope }"}`, 400, grj, "GRAPHQL_VALIDATION_FAILED", false},
		{"limit refusal, graphql-response+json", grj, `{"query":"{ ` + repeat("a%d: me { id }", 16, " ") + ` }"}`, 400, grj, "TOO_MANY_ALIASES", false},
		{"field error, graphql-response+json", grj, `{"query":"{ me { id } }"}`, 200, grj, "UNAUTHENTICATED", true},
		{"preferred by quality", "application/json;q=0.5, " + grj, `{"query":"{ __typename }"}`, 200, grj, "", true},
		{"json preferred by quality", grj + ";q=0.5, application/json", `{"query":"{ __typename }"}`, 200, "application/json", "", true},
		{"both at the same quality", "application/json, " + grj, `{"query":"{ nope }"}`, 400, grj, "GRAPHQL_VALIDATION_FAILED", false},
		{"wildcard", "*/*", `{"query":"{ nope }"}`, 200, "application/json", "GRAPHQL_VALIDATION_FAILED", false},
		{"nothing acceptable", "text/html", `{"query":"{ __typename }"}`, 406, "application/json", "NOT_ACCEPTABLE", false},
		{"no query", grj, `{"operationName":"A"}`, 400, grj, "BAD_REQUEST", false},
		{"persistedQuery of the wrong shape", "", `{"query":"{ __typename }","extensions":{"persistedQuery":"x"}}`, 400, "application/json", "BAD_REQUEST", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := post(tc.accept, tc.body)
			checkAnswer(t, res, tc.status, tc.media, tc.code, tc.data)
		})
	}

	mutationOverGET := func(accept string) *apptest.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL()+"?query="+strings.ReplaceAll("mutation{logout}", "{", "%7B"), nil)
		req.Header.Set("Accept", accept)
		return c.Send(t, req)
	}
	for _, accept := range []string{"application/json", grj} {
		res := mutationOverGET(accept)
		checkAnswer(t, res, http.StatusMethodNotAllowed, accept, "MUTATION_NOT_ALLOWED_OVER_GET", false)
		if res.Header.Get("Allow") != "POST" {
			t.Errorf("405 without Allow: POST: %v", res.Header)
		}
	}
	for _, q := range []string{"query=%7B__typename%7D&variables=%5B1%5D", "query=%7B__typename%7D&extensions=5", "query=%7B__typename%7D&variables=%7B%7D%7B%7D", ""} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL()+"?"+q, nil)
		checkAnswer(t, c.Send(t, req), http.StatusBadRequest, "application/json", "BAD_REQUEST", false)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"?query=%7B__typename%7D&variables=%7B%7D&operationName=", nil)
	checkAnswer(t, c.Send(t, req), http.StatusOK, "application/json", "", true)
}

// checkAnswer checks a response's status, media type, first error code
// and whether it has a data entry.
func checkAnswer(t *testing.T, res *apptest.Response, status int, media, code string, data bool) {
	t.Helper()
	if res.Status != status || res.Code() != code {
		t.Errorf("got %d %q, want %d %q: %s", res.Status, res.Code(), status, code, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); ct != media+"; charset=utf-8" {
		t.Errorf("Content-Type %q, want %s; charset=utf-8", ct, media)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Fatalf("body is not a JSON object: %s", res.Body)
	}
	if _, has := body["data"]; has != data {
		t.Errorf("data entry present=%v, want %v: %s", has, data, res.Body)
	}
}
