package e2e

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/token"
)

// hostile is one request an attacker might send, and the answer the
// docs/security.md documents for it.
type hostile struct {
	name  string
	build func(t *testing.T, srv *apptest.Server) *http.Request
	// status is the answer under Accept: application/json (or none).
	// GraphQL over HTTP answers a well-formed request 200 there, even when
	// it is refused before execution (it was 422 before gqlauth followed
	// the spec); a malformed one 4xx.
	status int
	// strict is the answer under Accept: application/graphql-response+json,
	// where a refusal before execution is 400; 0 means the same as status.
	strict int
	code   string
	// message, when set, must appear in the first error's message.
	message string
}

// post builds a POST to /graphql with the given content type and body.
func rawPost(contentType string, body []byte) func(*testing.T, *apptest.Server) *http.Request {
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
	return rawPost("application/json", body)
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

const guessField = `signIn(input: {email: "victim@example.com", password: "guess-%d-guess"}) { accessToken }`

// hostileRequests is the documented answer to each attack (docs/security.md).
func hostileRequests() []hostile {
	big := bytes.Repeat([]byte("a"), 2<<20)
	oversized := append(append([]byte(`{"query":"{ __typename }","variables":{"x":"`), big...), []byte(`"}}`)...)
	manyIDs := make([]string, 5001)
	for i := range manyIDs {
		manyIDs[i] = uuid.NewString()
	}
	usersPage := `users(first: 100) { edges { node { id email username firstName lastName age role createdAt updatedAt } } totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }`
	return []hostile{
		{name: "oversized body with Content-Length", build: rawPost("application/json", oversized),
			status: 413, code: "REQUEST_TOO_LARGE"},
		{name: "oversized chunked body", build: func(t *testing.T, srv *apptest.Server) *http.Request {
			req := rawPost("application/json", nil)(t, srv)
			req.Body = io.NopCloser(onlyReader{bytes.NewReader(oversized)})
			req.ContentLength = -1
			return req
		}, status: 413, code: "REQUEST_TOO_LARGE"},
		{name: "query text over 15000 bytes", build: gql("{ __typename }\n#"+strings.Repeat("x", 15000), nil),
			status: 200, strict: 400, code: "QUERY_TOO_LARGE"},
		{name: "over 1000 tokens", build: gql("{ "+strings.Repeat("__typename ", 1001)+"}", nil),
			status: 200, strict: 400, code: "GRAPHQL_PARSE_FAILED", message: "token limit"},
		{name: "nesting beyond the parser (unclosed braces)", build: gql(strings.Repeat("{ a ", 3000), nil),
			status: 200, strict: 400, code: "GRAPHQL_PARSE_FAILED"},
		{name: "deep introspection: 30 nested ofType", build: gql(deepIntrospection(30), nil),
			status: 200, strict: 400, code: "INTROSPECTION_TOO_DEEP"},
		{name: "introspection fan-out: fields of the types of fields of …", build: gql(`{ __type(name: "Query") { fields { type { fields { type { fields { name } } } } } } }`, nil),
			status: 200, strict: 400, code: "GRAPHQL_VALIDATION_FAILED", message: "Maximum introspection depth"},
		{name: "introspection fan-out through fragments", build: gql(`{ __schema { types { ...A } } } fragment A on __Type { interfaces { ...B } } `+
			`fragment B on __Type { possibleTypes { ...C } } fragment C on __Type { inputFields { name } }`, nil),
			status: 200, strict: 400, code: "GRAPHQL_VALIDATION_FAILED", message: "Maximum introspection depth"},
		{name: "alias bomb", build: gql("{ "+repeat("a%d: me { id }", 16, " ")+" }", nil),
			status: 200, strict: 400, code: "TOO_MANY_ALIASES"},
		{name: "alias bomb through fragments", build: gql(`{ me { ...F } x: me { ...F } } fragment F on User { `+repeat("a%d: id", 8, " ")+` }`, nil),
			status: 200, strict: 400, code: "TOO_MANY_ALIASES"},
		{name: "fragment cycle", build: gql(`{ me { ...A } } fragment A on User { id ...B } fragment B on User { email ...A }`, nil),
			status: 200, strict: 400, code: "GRAPHQL_VALIDATION_FAILED", message: "Cannot spread fragment"},
		{name: "directive bomb", build: gql("{ "+strings.Repeat("__typename @include(if: true) ", 51)+"}", nil),
			status: 200, strict: 400, code: "TOO_MANY_DIRECTIVES"},
		{name: "complexity: four pages of 100 users", build: gql("{ "+repeat("u%d: "+usersPage, 4, " ")+" }", nil),
			status: 200, strict: 400, code: "COMPLEXITY_LIMIT_EXCEEDED"},
		{name: "nodes with 5001 ids (GRAPHQL_MAX_INPUT_LIST)", build: gql(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": manyIDs}),
			status: 200, strict: 400, code: "BAD_USER_INPUT", message: "ids"},
		{name: "signIn twice by aliases", build: gql("mutation { "+repeat("a%d: "+guessField, 2, " ")+" }", nil),
			status: 200, strict: 400, code: "TOO_MANY_CREDENTIAL_FIELDS"},
		{name: "signIn twice in the operation that runs, through a fragment", build: func(t *testing.T, srv *apptest.Server) *http.Request {
			body, _ := json.Marshal(map[string]any{
				"operationName": "A",
				"query": `mutation A { ` + fmt.Sprintf(guessField, 0) + ` ...F } ` +
					`mutation B { signUp(input: {email: "new@example.com", password: "long enough"}) { accessToken } } ` +
					`fragment F on Mutation { again: ` + fmt.Sprintf(guessField, 1) + ` }`,
			})
			return rawPost("application/json", body)(t, srv)
		}, status: 200, strict: 400, code: "TOO_MANY_CREDENTIAL_FIELDS"},
		{name: "invalid JSON", build: rawPost("application/json", []byte(`{"query": "{ __typename }"`)),
			status: 400, code: "BAD_REQUEST"},
		{name: "JSON of the wrong shape", build: rawPost("application/json", []byte(`{"query": 5}`)),
			status: 400, code: "BAD_REQUEST", message: "query must be a string"},
		{name: "JSON followed by more", build: rawPost("application/json", []byte(`{"query": "{ __typename }"} {"query": "{ __typename }"}`)),
			status: 400, code: "BAD_REQUEST"},
		{name: "batched array", build: rawPost("application/json", []byte(`[{"query": "mutation { `+fmt.Sprintf(guessField, 1)+` }"}, {"query": "mutation { `+fmt.Sprintf(guessField, 2)+` }"}]`)),
			status: 400, code: "BATCHING_NOT_SUPPORTED"},
		{name: "non-UTF-8 body", build: rawPost("application/json", []byte("{\"query\": \"{ __typename }\", \"variables\": {\"x\": \"\xff\xfe\"}}")),
			status: 400, code: "BAD_REQUEST", message: "UTF-8"},
		{name: "non-UTF-8 GET query", build: get("query=%7B__typename%7D%ff"),
			status: 400, code: "BAD_REQUEST", message: "UTF-8"},
		{name: "text/plain", build: rawPost("text/plain", []byte(`{"query": "{ __typename }"}`)),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "form-encoded", build: rawPost("application/x-www-form-urlencoded", []byte(`query=%7B__typename%7D`)),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "multipart", build: rawPost("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n--x--\r\n")),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "application/graphql", build: rawPost("application/graphql", []byte(`{ __typename }`)),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "no content type", build: rawPost("", []byte(`{"query": "{ __typename }"}`)),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "JSON in another charset", build: rawPost("application/json; charset=latin1", []byte(`{"query": "{ __typename }"}`)),
			status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "PUT", build: func(t *testing.T, srv *apptest.Server) *http.Request {
			req := rawPost("application/json", []byte(`{"query": "{ __typename }"}`))(t, srv)
			req.Method = http.MethodPut
			return req
		}, status: 405, code: "METHOD_NOT_ALLOWED"},
		{name: "mutation over GET", build: get("query=" + url.QueryEscape("mutation { "+fmt.Sprintf(guessField, 3)+" }")),
			status: 405, code: "MUTATION_NOT_ALLOWED_OVER_GET"},
		{name: "NUL in an input field", build: gql(`mutation($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
			map[string]any{"in": map[string]any{"email": "nul@example.com", "password": "long enough", "firstName": "a\x00b"}}),
			status: 200, strict: 400, code: "BAD_USER_INPUT", message: "firstName"},
		{name: "control character in a nested filter", build: gql(`query($w: UserWhereInput) { users(where: $w) { totalCount } }`,
			map[string]any{"w": map[string]any{"or": []any{map[string]any{"emailContains": "\a"}}}}),
			status: 200, strict: 400, code: "BAD_USER_INPUT", message: "where.or[0].emailContains"},
		{name: "malformed Time in a nested filter", build: gql(`query($w: UserWhereInput) { users(where: $w) { totalCount } }`,
			map[string]any{"w": map[string]any{"and": []any{map[string]any{"createdAtGT": "yesterday"}}}}),
			status: 200, strict: 400, code: "BAD_USER_INPUT", message: "where.and[0].createdAtGT"},
		{name: "Time as a number", build: gql(`{ users(where: {updatedAtLT: 5}) { totalCount } }`, nil),
			status: 200, strict: 400, code: "BAD_USER_INPUT", message: "where.updatedAtLT"},
		{name: "overlong refresh token", build: gql(`mutation($t: String) { refresh(refreshToken: $t) { accessToken } }`,
			map[string]any{"t": strings.Repeat("r", 5000)}),
			status: 200, strict: 400, code: "BAD_USER_INPUT", message: "refreshToken"},
		{name: "lone surrogate in an input field", build: rawPost("application/json", []byte(`{"query": "mutation { signUp(input: {email: \"s@example.com\", password: \"long enough\", lastName: \"\\ud800\"}) { accessToken } }"}`)),
			status: 200, strict: 400, code: "BAD_USER_INPUT", message: "lastName"},
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
				strictReq := h.build(t, srv)
				strictReq.Header.Set("Accept", "application/graphql-response+json")
				strict := c.Send(t, strictReq)
				if want := cmp.Or(h.strict, h.status); strict.Status != want || strict.Code() != h.code || strict.Data != nil {
					t.Fatalf("with Accept: application/graphql-response+json got %d %q, want %d %q and no data: %.300s",
						strict.Status, strict.Code(), want, h.code, strict.Body)
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
		"GRAPHQL_MAX_INTROSPECTION_DEPTH": "0",
		"GRAPHQL_MAX_ALIASES":             "2",
		"GRAPHQL_MAX_DIRECTIVES":          "1",
		"GRAPHQL_MAX_QUERY_BYTES":         "200",
		"GRAPHQL_MAX_COMPLEXITY":          "20",
		"GRAPHQL_MAX_TOKENS":              "0",
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
	// GRAPHQL_MAX_INTROSPECTION_DEPTH=0 and GRAPHQL_MAX_TOKENS=0: off (the
	// query text limit of 200 bytes is the only bound left).
	if res := c.Do(t, `{__type(name:"User"){fields{type{ofType{ofType{ofType{ofType{ofType{ofType{ofType{ofType{ofType{name}}}}}}}}}}}}}`, nil); len(res.Errors) > 0 {
		t.Fatalf("introspection depth limit 0 should be off: %s", res.Body)
	}
}

// TestProductionHidesTheSchema checks that in production introspection,
// the playground and "Did you mean" suggestions are off, and that each
// can be turned back on.
func TestProductionHidesTheSchema(t *testing.T) {
	prod := map[string]string{"APP_ENV": "production", "BCRYPT_COST": "10", "EMAIL_VERIFICATION": "off"}
	srv := apptest.New(t, apptest.Backends[0], prod)
	c := srv.Client()
	for _, q := range []string{
		`{ __schema { types { name } } }`,
		`{ me { id } ...F } fragment F on Query { __type(name: "User") { name } }`,
	} {
		if res := c.Do(t, q, nil); res.Code() != "GRAPHQL_VALIDATION_FAILED" || res.Status != 200 || len(res.Data) > 4 {
			t.Fatalf("introspection should be refused in production: %s", res.Body)
		}
	}
	if res := c.Do(t, `{ __typename }`, nil); len(res.Errors) > 0 {
		t.Fatalf("__typename is not introspection: %s", res.Body)
	}
	if strings.Contains(srv.Logs.String(), "internal error") {
		t.Fatalf("refused introspection was logged as an internal error:\n%s", srv.Logs.String())
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

// signInAs sends one signIn and returns the raw response.
func signInAs(t testing.TB, c *apptest.Client, email, password string) *apptest.Response {
	t.Helper()
	return c.Do(t, `mutation($in: SignInInput!) { signIn(input: $in) { accessToken } }`,
		map[string]any{"in": map[string]any{"email": email, "password": password}})
}

// retryAfter is the first error's extensions.retryAfter in seconds, or 0.
func retryAfter(res *apptest.Response) float64 {
	if len(res.Errors) == 0 {
		return 0
	}
	n, _ := res.Errors[0].Extensions["retryAfter"].(float64)
	return n
}

// TestSignInLockout checks the per-account lockout: five failures lock
// the account for the window, even against the right password; an
// unknown account locks the same way and gets the same answer; a success
// resets the count.
func TestSignInLockout(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		victim := apptest.UniqueEmail("victim")
		c.SignUp(t, victim, "correct horse")
		ghost := apptest.UniqueEmail("ghost")

		for _, email := range []string{victim, ghost} {
			for i := 0; i < 5; i++ {
				if res := signInAs(t, c, email, "wrong guess"); res.Code() != "UNAUTHENTICATED" {
					t.Fatalf("%s failure %d: %s", email, i+1, res.Body)
				}
			}
		}
		lockedVictim := signInAs(t, c, victim, "correct horse")
		lockedGhost := signInAs(t, c, ghost, "correct horse")
		for _, res := range []*apptest.Response{lockedVictim, lockedGhost} {
			if res.Code() != "TOO_MANY_REQUESTS" {
				t.Fatalf("sixth attempt should be refused: %s", res.Body)
			}
			if s := retryAfter(res); s < 1 || s > 15*60 {
				t.Fatalf("retryAfter = %v, want 1..900 seconds", s)
			}
		}
		if lockedVictim.Errors[0].Message != lockedGhost.Errors[0].Message ||
			len(lockedVictim.Errors[0].Extensions) != len(lockedGhost.Errors[0].Extensions) {
			t.Fatalf("a locked account and a locked unknown account differ:\n%s\n%s", lockedVictim.Body, lockedGhost.Body)
		}

		// A success resets the count: four failures, a success, four more
		// failures, and the right password still works.
		other := apptest.UniqueEmail("other")
		srv.Client().SignUp(t, other, "correct horse")
		for round := 0; round < 2; round++ {
			for i := 0; i < 4; i++ {
				if res := signInAs(t, c, other, "wrong guess"); res.Code() != "UNAUTHENTICATED" {
					t.Fatalf("round %d failure %d: %s", round, i+1, res.Body)
				}
			}
			if res := signInAs(t, c, other, "correct horse"); len(res.Errors) > 0 {
				t.Fatalf("round %d: right password after 4 failures refused: %s", round, res.Body)
			}
		}
	})
}

// TestLockoutParallelGuesses fires 50 wrong sign-ins at one account at
// once: the counter is taken before bcrypt runs, so exactly
// LOGIN_MAX_FAILURES passwords are compared and the rest are refused.
func TestLockoutParallelGuesses(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		victim := apptest.UniqueEmail("parallel")
		srv.Client().SignUp(t, victim, "correct horse")
		before := srv.Passwords.Checks()

		const guesses = 50
		codes := make(chan string, guesses)
		start := make(chan struct{})
		done := make(chan struct{})
		for i := 0; i < guesses; i++ {
			go func(i int) {
				defer func() { done <- struct{}{} }()
				<-start
				codes <- signInAs(t, srv.Client(), victim, fmt.Sprintf("wrong guess %d", i)).Code()
			}(i)
		}
		close(start)
		for i := 0; i < guesses; i++ {
			<-done
		}
		close(codes)
		count := map[string]int{}
		for code := range codes {
			count[code]++
		}
		checked := srv.Passwords.Checks() - before
		t.Logf("%d parallel guesses: %v, %d bcrypt comparisons", guesses, count, checked)
		if checked > 5 || count["UNAUTHENTICATED"] > 5 {
			t.Fatalf("%d passwords compared and %d rejected as wrong; the limit is 5", checked, count["UNAUTHENTICATED"])
		}
		if count["UNAUTHENTICATED"]+count["TOO_MANY_REQUESTS"] != guesses {
			t.Fatalf("unexpected answers: %v", count)
		}
		if res := signInAs(t, srv.Client(), victim, "correct horse"); res.Code() != "TOO_MANY_REQUESTS" {
			t.Fatalf("the account should be locked: %s", res.Body)
		}
	})
}

// TestLockoutWindowPasses checks a locked account opens again once
// LOGIN_FAILURE_WINDOW has passed.
func TestLockoutWindowPasses(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"LOGIN_MAX_FAILURES": "2", "LOGIN_FAILURE_WINDOW": "1s"})
		c := srv.Client()
		email := apptest.UniqueEmail("window")
		c.SignUp(t, email, "correct horse")
		signInAs(t, c, email, "wrong guess")
		signInAs(t, c, email, "wrong guess")
		res := signInAs(t, c, email, "correct horse")
		if res.Code() != "TOO_MANY_REQUESTS" || retryAfter(res) != 1 {
			t.Fatalf("want TOO_MANY_REQUESTS with retryAfter 1: %s", res.Body)
		}
		time.Sleep(1100 * time.Millisecond)
		if res := signInAs(t, c, email, "correct horse"); len(res.Errors) > 0 {
			t.Fatalf("the lock should have ended with the window: %s", res.Body)
		}
	})
}

// TestRateLimitPerClient checks the token bucket of credential fields
// per client address: signIn, signUp and refresh share it, other fields
// do not spend it, and X-Forwarded-For counts only from a trusted proxy.
func TestRateLimitPerClient(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"RATE_LIMIT_AUTH": "3"})
		c := srv.Client()
		p := c.SignUp(t, apptest.UniqueEmail("rate"), "correct horse") // 1
		for i := 0; i < 5; i++ {
			c.Do(t, `{ me { id } }`, nil).Decode(t, &struct{}{}) // free
		}
		signInAs(t, c, apptest.UniqueEmail("nobody"), "wrong guess")                                                                   // 2
		refresh := c.Do(t, `mutation($t: String) { refresh(refreshToken: $t) { accessToken } }`, map[string]any{"t": *p.RefreshToken}) // 3
		if len(refresh.Errors) > 0 {
			t.Fatalf("refresh within the limit: %s", refresh.Body)
		}
		res := signInAs(t, c, *p.User.Email, "correct horse")
		if res.Code() != "TOO_MANY_REQUESTS" || retryAfter(res) < 1 || retryAfter(res) > 60 {
			t.Fatalf("fourth credential request within a minute: %s", res.Body)
		}
		// Spoofing X-Forwarded-For does not help without a trusted proxy.
		spoof := srv.Client()
		spoof.Header.Set("X-Forwarded-For", "203.0.113.9")
		if res := signInAs(t, spoof, "a@example.com", "wrong guess"); res.Code() != "TOO_MANY_REQUESTS" {
			t.Fatalf("X-Forwarded-For from an untrusted peer must be ignored: %s", res.Body)
		}
	})
}

// TestTrustedProxyClients checks that behind a trusted proxy each
// forwarded client has its own bucket, keyed by the rightmost untrusted
// X-Forwarded-For entry.
func TestTrustedProxyClients(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], map[string]string{
		"RATE_LIMIT_AUTH": "1", "TRUSTED_PROXIES": "127.0.0.0/8, ::1",
	})
	first, second := srv.Client(), srv.Client()
	first.Header.Set("X-Forwarded-For", "198.51.100.7, 203.0.113.1")
	second.Header.Set("X-Forwarded-For", "203.0.113.2")
	for _, c := range []*apptest.Client{first, second} {
		if res := signInAs(t, c, "a@example.com", "wrong guess"); res.Code() != "UNAUTHENTICATED" {
			t.Fatalf("first request of a forwarded client: %s", res.Body)
		}
	}
	// The leftmost entry is the client's own claim: changing it does not
	// give a new bucket.
	first.Header.Set("X-Forwarded-For", "192.0.2.99, 203.0.113.1")
	if res := signInAs(t, first, "a@example.com", "wrong guess"); res.Code() != "TOO_MANY_REQUESTS" {
		t.Fatalf("a spoofed leftmost X-Forwarded-For entry must not reset the bucket: %s", res.Body)
	}
}

// TestSignInTimingUnknownVsKnown compares the time of a wrong sign-in on
// an existing account with one on an unknown account. Samples are
// interleaved and medians compared, so machine noise hits both alike.
// bcrypt dominates a sign-in: without the dummy comparison an unknown
// account answers more than ten times faster, far outside the bound of a
// factor of two either way, which leaves room for a busy machine.
func TestSignInTimingUnknownVsKnown(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], map[string]string{
		"BCRYPT_COST": "6", "LOGIN_MAX_FAILURES": "0",
	})
	c := srv.Client()
	known := apptest.UniqueEmail("timing")
	c.SignUp(t, known, "correct horse")
	const samples = 21
	var knownTimes, unknownTimes []time.Duration
	measureOne := func(email string) time.Duration {
		start := time.Now()
		if res := signInAs(t, c, email, "wrong guess"); res.Code() != "UNAUTHENTICATED" {
			t.Fatalf("want UNAUTHENTICATED: %s", res.Body)
		}
		return time.Since(start)
	}
	measureOne(known) // warm up
	measureOne(apptest.UniqueEmail("nobody"))
	for i := 0; i < samples; i++ {
		if i%2 == 0 {
			knownTimes = append(knownTimes, measureOne(known))
			unknownTimes = append(unknownTimes, measureOne(apptest.UniqueEmail("nobody")))
		} else {
			unknownTimes = append(unknownTimes, measureOne(apptest.UniqueEmail("nobody")))
			knownTimes = append(knownTimes, measureOne(known))
		}
	}
	k, u := median(knownTimes), median(unknownTimes)
	ratio := float64(u) / float64(k)
	t.Logf("median wrong sign-in: known %v, unknown %v, ratio %.2f", k, u, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("unknown/known median ratio %.2f is outside [0.5, 2]: sign-in timing reveals which accounts exist", ratio)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// TestThrottlesFailClosed checks that without Redis, sign-in and the
// credential rate limit refuse with SERVICE_UNAVAILABLE instead of
// letting guesses through unthrottled.
func TestThrottlesFailClosed(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], map[string]string{
		"REDIS_URL": "redis://127.0.0.1:1/0", "RATE_LIMIT_AUTH": "0",
	})
	if res := signInAs(t, srv.Client(), "a@example.com", "wrong guess"); res.Code() != "SERVICE_UNAVAILABLE" {
		t.Fatalf("sign-in without the lockout store: %s", res.Body)
	}
	limited := apptest.New(t, apptest.Backends[0], map[string]string{
		"REDIS_URL": "redis://127.0.0.1:1/0", "RATE_LIMIT_AUTH": "30", "LOGIN_MAX_FAILURES": "0",
	})
	if res := signInAs(t, limited.Client(), "a@example.com", "wrong guess"); res.Code() != "SERVICE_UNAVAILABLE" {
		t.Fatalf("sign-in without the rate-limit store: %s", res.Body)
	}
}

// craftJWT signs header and claims with HS256 and secret, whatever alg
// the header names; an empty secret leaves the signature empty.
func craftJWT(header, claims map[string]any, secret string) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	if secret == "" {
		return signing + "."
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// TestForgedAccessTokens sends forged variants of a real access token as
// bearer tokens to a server whose key is the legacy HS256 key of a
// JWT_ACCESS_SECRET: each is refused as UNAUTHENTICATED, while the same
// claims properly signed (with jku/x5u/jwk headers the server ignores)
// are accepted. TestForgedAsymmetricTokens (keys_test.go) does the same
// for the asymmetric keys.
func TestForgedAccessTokens(t *testing.T) {
	const secret = apptest.JWTSecret
	srv := apptest.New(t, apptest.Backends[0], map[string]string{"JWT_ACCESS_SECRET": secret})
	kid := token.LegacyKey(secret).ID
	p := srv.Client().SignUp(t, apptest.UniqueEmail("forge"), "correct horse")
	parts := strings.Split(p.AccessToken, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := func(k string, v any) map[string]any {
		var c map[string]any
		_ = json.Unmarshal(raw, &c)
		if k != "" {
			c[k] = v
		}
		return c
	}
	header := func(k string, v any) map[string]any {
		h := map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}
		if k != "" {
			h[k] = v
		}
		if v == nil {
			delete(h, k)
		}
		return h
	}
	for name, tc := range map[string]struct {
		token string
		ok    bool
	}{
		"as issued":                 {p.AccessToken, true},
		"re-signed, key headers":    {craftJWT(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid, "jku": "https://attacker.example/jwks", "x5u": "https://attacker.example/x5u", "jwk": map[string]any{"kty": "oct", "k": "YXR0YWNrZXI"}}, claims("", nil), secret), true},
		"no kid":                    {craftJWT(header("kid", nil), claims("", nil), secret), false},
		"unknown kid":               {craftJWT(header("kid", "other"), claims("", nil), secret), false},
		"alg none":                  {craftJWT(header("alg", "none"), claims("", nil), ""), false},
		"alg NoNe":                  {craftJWT(header("alg", "NoNe"), claims("", nil), ""), false},
		"another secret":            {craftJWT(header("", nil), claims("", nil), "another-secret-another-secret-another!"), false},
		"payload edited to ADMIN":   {parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(claims("role", "ADMIN"))) + "." + parts[2], false},
		"wrong aud":                 {craftJWT(header("", nil), claims("aud", []string{"other"}), secret), false},
		"wrong iss":                 {craftJWT(header("", nil), claims("iss", "other"), secret), false},
		"typ JWT":                   {craftJWT(header("typ", "JWT"), claims("", nil), secret), false},
		"no exp":                    {craftJWT(header("", nil), func() map[string]any { c := claims("", nil); delete(c, "exp"); return c }(), secret), false},
		"expired":                   {craftJWT(header("", nil), claims("exp", time.Now().Add(-time.Minute).Unix()), secret), false},
		"nbf in the future":         {craftJWT(header("", nil), claims("nbf", time.Now().Add(time.Hour).Unix()), secret), false},
		"jwk naming attacker's key": {craftJWT(header("jwk", map[string]any{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString([]byte("attacker-key-attacker-key-attacker"))}), claims("", nil), "attacker-key-attacker-key-attacker"), false},
	} {
		t.Run(name, func(t *testing.T) {
			c := srv.Client()
			c.Token = tc.token
			res := c.Do(t, `{ me { id } }`, nil)
			if tc.ok && len(res.Errors) > 0 {
				t.Fatalf("want accepted: %s", res.Body)
			}
			if !tc.ok && res.Code() != "UNAUTHENTICATED" {
				t.Fatalf("want UNAUTHENTICATED: %s", res.Body)
			}
		})
	}
}
