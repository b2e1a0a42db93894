package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// hostile is one request an attacker might send, and the answer the
// README documents for it.
type hostile struct {
	name   string
	build  func(t *testing.T, srv *apptest.Server) *http.Request
	status int
	code   string
	// message, when set, must appear in the first error's message.
	message string
}

// post builds a POST to /graphql with the given content type and body.
func post(contentType string, body []byte) func(*testing.T, *apptest.Server) *http.Request {
	return func(t *testing.T, srv *apptest.Server) *http.Request {
		req, err := http.NewRequest(http.MethodPost, srv.URL(), bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		return req
	}
}

// gql builds a JSON POST of a document with variables.
func gql(query string, vars map[string]any) func(*testing.T, *apptest.Server) *http.Request {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return post("application/json", body)
}

// get builds a GET of /graphql with a raw query string.
func get(rawQuery string) func(*testing.T, *apptest.Server) *http.Request {
	return func(t *testing.T, srv *apptest.Server) *http.Request {
		req, err := http.NewRequest(http.MethodGet, srv.URL()+"?"+rawQuery, nil)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
}

// onlyReader hides a reader's length, so the client sends it chunked
// without Content-Length.
type onlyReader struct{ io.Reader }

func repeat(s string, n int, sep string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(s, i)
	}
	return strings.Join(parts, sep)
}

func deepIntrospection(levels int) string {
	return `{ __type(name: "User") { fields { type { ` + strings.Repeat("ofType { ", levels) + "name" + strings.Repeat(" }", levels) + ` } } } }`
}

const signInDoc = `signIn(input: {email: "victim@example.com", password: "guess-%d-guess"}) { accessToken }`

// hostileRequests is the documented answer to each attack (README.md,
// "Security").
func hostileRequests() []hostile {
	big := bytes.Repeat([]byte("a"), 2<<20)
	oversized := append(append([]byte(`{"query":"{ __typename }","variables":{"x":"`), big...), []byte(`"}}`)...)
	manyIDs := make([]string, 5001)
	for i := range manyIDs {
		manyIDs[i] = uuid.NewString()
	}
	usersPage := `users(first: 100) { edges { node { id email username firstName lastName age role createdAt updatedAt } } totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }`
	return []hostile{
		{name: "oversized body with Content-Length", build: post("application/json", oversized),
			status: 413, code: "REQUEST_TOO_LARGE"},
		{name: "oversized chunked body", build: func(t *testing.T, srv *apptest.Server) *http.Request {
			req := post("application/json", nil)(t, srv)
			req.Body = io.NopCloser(onlyReader{bytes.NewReader(oversized)})
			req.ContentLength = -1
			return req
		}, status: 413, code: "REQUEST_TOO_LARGE"},
		{name: "query text over 15000 bytes", build: gql("{ __typename }\n#"+strings.Repeat("x", 15000), nil),
			status: 422, code: "QUERY_TOO_LARGE"},
		{name: "over 1000 tokens", build: gql("{ "+strings.Repeat("__typename ", 1001)+"}", nil),
			status: 422, code: "GRAPHQL_PARSE_FAILED", message: "token limit"},
		{name: "nesting beyond the parser (unclosed braces)", build: gql(strings.Repeat("{ a ", 3000), nil),
			status: 422, code: "GRAPHQL_PARSE_FAILED"},
		{name: "deep nesting", build: gql(deepIntrospection(9), nil),
			status: 422, code: "QUERY_TOO_DEEP"},
		{name: "alias bomb", build: gql("{ "+repeat("a%d: me { id }", 16, " ")+" }", nil),
			status: 422, code: "TOO_MANY_ALIASES"},
		{name: "alias bomb through fragments", build: gql(`{ me { ...F } x: me { ...F } } fragment F on User { `+repeat("a%d: id", 8, " ")+` }`, nil),
			status: 422, code: "TOO_MANY_ALIASES"},
		{name: "fragment cycle", build: gql(`{ me { ...A } } fragment A on User { id ...B } fragment B on User { email ...A }`, nil),
			status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "Cannot spread fragment"},
		{name: "directive bomb", build: gql("{ "+strings.Repeat("__typename @include(if: true) ", 51)+"}", nil),
			status: 422, code: "TOO_MANY_DIRECTIVES"},
		{name: "complexity: four pages of 100 users", build: gql("{ "+repeat("u%d: "+usersPage, 4, " ")+" }", nil),
			status: 422, code: "COMPLEXITY_LIMIT_EXCEEDED"},
		{name: "complexity: nodes with 5001 ids", build: gql(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": manyIDs}),
			status: 422, code: "COMPLEXITY_LIMIT_EXCEEDED"},
		{name: "signIn twice by aliases", build: gql("mutation { "+repeat("a%d: "+signInDoc, 2, " ")+" }", nil),
			status: 422, code: "TOO_MANY_CREDENTIAL_FIELDS"},
		{name: "signIn and signUp in two operations", build: func(t *testing.T, srv *apptest.Server) *http.Request {
			body, _ := json.Marshal(map[string]any{
				"operationName": "A",
				"query": `mutation A { ` + fmt.Sprintf(signInDoc, 0) + ` } ` +
					`mutation B { signUp(input: {email: "new@example.com", password: "long enough"}) { accessToken } }`,
			})
			return post("application/json", body)(t, srv)
		}, status: 422, code: "TOO_MANY_CREDENTIAL_FIELDS"},
		{name: "invalid JSON", build: post("application/json", []byte(`{"query": "{ __typename }"`)),
			status: 400, code: "BAD_REQUEST"},
		{name: "JSON of the wrong shape", build: post("application/json", []byte(`{"query": 5}`)),
			status: 400, code: "BAD_REQUEST", message: "query must be a string"},
		{name: "JSON followed by more", build: post("application/json", []byte(`{"query": "{ __typename }"} {"query": "{ __typename }"}`)),
			status: 400, code: "BAD_REQUEST"},
		{name: "batched array", build: post("application/json", []byte(`[{"query": "mutation { `+fmt.Sprintf(signInDoc, 1)+` }"}, {"query": "mutation { `+fmt.Sprintf(signInDoc, 2)+` }"}]`)),
			status: 400, code: "BATCHING_NOT_SUPPORTED"},
		{name: "non-UTF-8 body", build: post("application/json", []byte("{\"query\": \"{ __typename }\", \"variables\": {\"x\": \"\xff\xfe\"}}")),
			status: 400, code: "BAD_REQUEST", message: "UTF-8"},
		{name: "non-UTF-8 GET query", build: get("query=%7B__typename%7D%ff"),
			status: 400, code: "BAD_REQUEST", message: "UTF-8"},
		{name: "text/plain", build: post("text/plain", []byte(`{"query": "{ __typename }"}`)),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "form-encoded", build: post("application/x-www-form-urlencoded", []byte(`query=%7B__typename%7D`)),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "multipart", build: post("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n--x--\r\n")),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "application/graphql", build: post("application/graphql", []byte(`{ __typename }`)),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "no content type", build: post("", []byte(`{"query": "{ __typename }"}`)),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "JSON in another charset", build: post("application/json; charset=latin1", []byte(`{"query": "{ __typename }"}`)),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "PUT", build: func(t *testing.T, srv *apptest.Server) *http.Request {
			req := post("application/json", []byte(`{"query": "{ __typename }"}`))(t, srv)
			req.Method = http.MethodPut
			return req
		}, status: 405, code: "METHOD_NOT_ALLOWED"},
		{name: "mutation over GET", build: get("query=" + url.QueryEscape("mutation { "+fmt.Sprintf(signInDoc, 3)+" }")),
			status: 422, code: "MUTATION_NOT_ALLOWED_OVER_GET"},
		{name: "NUL in an input field", build: gql(`mutation($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
			map[string]any{"in": map[string]any{"email": "nul@example.com", "password": "long enough", "firstName": "a\x00b"}}),
			status: 200, code: "BAD_USER_INPUT", message: "firstName"},
		{name: "control character in a nested filter", build: gql(`query($w: UserWhereInput) { users(where: $w) { totalCount } }`,
			map[string]any{"w": map[string]any{"or": []any{map[string]any{"emailContains": "\a"}}}}),
			status: 200, code: "BAD_USER_INPUT", message: "w"},
		{name: "overlong refresh token", build: gql(`mutation($t: String) { refresh(refreshToken: $t) { accessToken } }`,
			map[string]any{"t": strings.Repeat("r", 5000)}),
			status: 200, code: "BAD_USER_INPUT", message: "refreshToken"},
		{name: "lone surrogate in an input field", build: post("application/json", []byte(`{"query": "mutation { signUp(input: {email: \"s@example.com\", password: \"long enough\", lastName: \"\\ud800\"}) { accessToken } }"}`)),
			status: 200, code: "BAD_USER_INPUT", message: "lastName"},
	}
}

func countRows(t *testing.T, srv *apptest.Server) (users, tokens int) {
	t.Helper()
	ctx := context.Background()
	users, err := srv.DB.Client.User.Query().Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err = srv.DB.Client.RefreshToken.Query().Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return users, tokens
}

// TestHostileRequests sends each attack of the table and checks its
// documented status and code, the security headers, that the server
// still answers, and that the database did not change.
func TestHostileRequests(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		c.SignUp(t, "victim@example.com", "correct horse")
		users, tokens := countRows(t, srv)
		for _, h := range hostileRequests() {
			t.Run(h.name, func(t *testing.T) {
				res := c.Send(t, h.build(t, srv))
				if res.Status != h.status || res.Code() != h.code {
					t.Fatalf("got %d %q, want %d %q: %.300s", res.Status, res.Code(), h.status, h.code, res.Body)
				}
				if h.message != "" && !strings.Contains(res.Errors[0].Message, h.message) {
					t.Errorf("message %q does not mention %q", res.Errors[0].Message, h.message)
				}
				if len(res.Body) > 4096 {
					t.Errorf("the error answer is %d bytes: it must not echo the request", len(res.Body))
				}
				if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Cache-Control") != "no-store" ||
					res.Header.Get("Content-Security-Policy") == "" || res.Header.Get("Referrer-Policy") != "no-referrer" {
					t.Errorf("security headers missing: %v", res.Header)
				}
				var alive struct{ Me struct{ Email string } }
				c.Do(t, `{ me { email } }`, nil).Decode(t, &alive)
				if alive.Me.Email != "victim@example.com" {
					t.Fatalf("server stopped serving after %s: %+v", h.name, alive)
				}
			})
		}
		if u, tk := countRows(t, srv); u != users || tk != tokens {
			t.Fatalf("database changed: users %d -> %d, refresh tokens %d -> %d", users, u, tokens, tk)
		}
	})
}

// TestLimitsAllowOrdinaryDocuments checks the limits do not refuse what
// clients legitimately send: __typename aliases are free, one signIn per
// request works, a page of 100 users fits the complexity budget.
func TestLimitsAllowOrdinaryDocuments(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	c := srv.Client()
	c.SignUp(t, "ordinary@example.com", "correct horse")
	if res := c.Do(t, "{ "+repeat("t%d: __typename", 40, " ")+" me { id } }", nil); len(res.Errors) > 0 {
		t.Fatalf("__typename aliases refused: %s", res.Body)
	}
	if res := c.Do(t, "{ "+repeat("a%d: me { id }", 15, " ")+" }", nil); len(res.Errors) > 0 {
		t.Fatalf("15 aliases refused: %s", res.Body)
	}
	if res := c.Do(t, deepIntrospection(5), nil); len(res.Errors) > 0 {
		t.Fatalf("depth 10 refused: %s", res.Body)
	}
	res := c.Do(t, `{ users(first: 100) { edges { node { id email username firstName lastName age role createdAt updatedAt } } totalCount pageInfo { hasNextPage endCursor } } }`, nil)
	if res.Code() != "FORBIDDEN" {
		t.Fatalf("a page of 100 users should pass the limits and reach the admin check, got %s", res.Body)
	}
	c.SignIn(t, "ordinary@example.com", "correct horse")
}

// TestLimitsAreSettings checks each GraphQL limit follows its setting,
// and that 0 turns one off.
func TestLimitsAreSettings(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], map[string]string{
		"GRAPHQL_MAX_DEPTH":       "0",
		"GRAPHQL_MAX_ALIASES":     "2",
		"GRAPHQL_MAX_DIRECTIVES":  "1",
		"GRAPHQL_MAX_QUERY_BYTES": "200",
		"GRAPHQL_MAX_COMPLEXITY":  "20",
		"GRAPHQL_MAX_TOKENS":      "0",
	})
	c := srv.Client()
	for _, tc := range []struct{ query, code string }{
		{"{ a: __typename b: __typename c: __type(name: \"User\") { name } d: __type(name: \"Role\") { name } }", ""},
		{"{ a: __type(name: \"User\") { name } b: __type(name: \"Role\") { name } c: __type(name: \"Node\") { name } }", "TOO_MANY_ALIASES"},
		{"{ a: __typename @skip(if: false) b: __typename @skip(if: false) }", "TOO_MANY_DIRECTIVES"},
		{"{ __typename }" + strings.Repeat(" ", 200), "QUERY_TOO_LARGE"},
		{`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, "COMPLEXITY_LIMIT_EXCEEDED"},
	} {
		ids := make([]string, 20)
		for i := range ids {
			ids[i] = uuid.NewString()
		}
		res := c.Do(t, tc.query, map[string]any{"ids": ids})
		if res.Code() != tc.code {
			t.Errorf("%.60s: got %q, want %q: %s", tc.query, res.Code(), tc.code, res.Body)
		}
	}
	// GRAPHQL_MAX_DEPTH=0 and GRAPHQL_MAX_TOKENS=0: off (the query text
	// limit of 200 bytes is the only bound left).
	if res := c.Do(t, `{__type(name:"User"){fields{type{ofType{ofType{ofType{ofType{ofType{ofType{ofType{ofType{ofType{name}}}}}}}}}}}}}`, nil); len(res.Errors) > 0 {
		t.Fatalf("depth limit 0 should be off: %s", res.Body)
	}
}

// TestProductionHidesTheSchema checks that in production introspection,
// the playground and "Did you mean" suggestions are off, and that each
// can be turned back on.
func TestProductionHidesTheSchema(t *testing.T) {
	prod := map[string]string{"APP_ENV": "production", "BCRYPT_COST": "10"}
	srv := apptest.New(t, apptest.Backends[0], prod)
	c := srv.Client()
	if res := c.Do(t, `{ __schema { types { name } } }`, nil); len(res.Errors) == 0 || res.Code() == "" {
		t.Fatalf("introspection should be refused in production: %s", res.Body)
	}
	for _, q := range []string{
		`{ mee { id } }`,
		`{ me { emial } }`,
		`{ users(frist: 1) { totalCount } }`,
		`query($w: UserWhereInpt) { users(where: $w) { totalCount } }`,
		`{ users(orderBy: {field: EMIAL}) { totalCount } }`,
		`{ me }`,
	} {
		res := c.Do(t, q, nil)
		if res.Code() != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("%s: want GRAPHQL_VALIDATION_FAILED, got %s", q, res.Body)
		}
		if strings.Contains(string(res.Body), "Did you mean") || strings.Contains(string(res.Body), "{ ... }") {
			t.Errorf("%s: production error suggests names: %s", q, res.Body)
		}
	}
	resp, err := http.Get(srv.HTTP.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("playground served in production: %d", resp.StatusCode)
	}

	dev := apptest.New(t, apptest.Backends[0], nil)
	if res := dev.Client().Do(t, `{ mee { id } }`, nil); !strings.Contains(string(res.Body), "Did you mean") {
		t.Errorf("development should suggest field names: %s", res.Body)
	}
	prod["GRAPHQL_FIELD_SUGGESTIONS"] = "true"
	prod["INTROSPECTION_ENABLED"] = "true"
	on := apptest.New(t, apptest.Backends[0], prod)
	if res := on.Client().Do(t, `{ mee { id } }`, nil); !strings.Contains(string(res.Body), "Did you mean") {
		t.Errorf("GRAPHQL_FIELD_SUGGESTIONS=true should suggest field names: %s", res.Body)
	}
	if res := on.Client().Do(t, `{ __schema { queryType { name } } }`, nil); len(res.Errors) > 0 {
		t.Errorf("INTROSPECTION_ENABLED=true should allow introspection: %s", res.Body)
	}
}
