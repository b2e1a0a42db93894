package graph

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// TestMaliciousCursorIsBadUserInput: a cursor whose msgpack announces a
// map of 2³²-1 entries (11 characters: "gaF23/////8" is {"v": map32}),
// or gives a key twice (msgpack panicked on it), is refused as
// BAD_USER_INPUT, like any corrupt cursor, by every field that takes one,
// before any resolver runs (so before any check of who asks), and costs
// the server next to nothing: msgpack v5.3.5 allocated 80 MiB decoding
// the first.
func TestMaliciousCursorIsBadUserInput(t *testing.T) {
	gql := NewHandler(&Resolver{}, HandlerOptions{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	gql.AddTransport(transport.POST{})
	for _, cursor := range []string{"gaF23/////8", "gqF2xAEAoXbEAQA"} {
		for _, query := range []string{
			`query($c: Cursor) { users(after: $c) { totalCount } }`,
			`query($c: Cursor) { users(before: $c, last: 1) { totalCount } }`,
			`query($c: Cursor) { auditEvents(after: $c) { pageInfo { hasNextPage } } }`,
			`query($c: Cursor) { auditEvents(before: $c, last: 1) { pageInfo { hasNextPage } } }`,
			`query($c: Cursor) { securityActivity(after: $c) { pageInfo { hasNextPage } } }`,
			`{ users(after: "` + cursor + `") { totalCount } }`,
		} {
			t.Run(cursor+" "+query, func(t *testing.T) {
				body, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"c": cursor}})
				var rec *httptest.ResponseRecorder
				serve := func() {
					req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
					req.Header.Set("Content-Type", "application/json")
					rec = httptest.NewRecorder()
					gql.ServeHTTP(rec, req)
				}
				serve() // parses and caches the document
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				serve()
				runtime.ReadMemStats(&after)
				var resp struct {
					Errors []struct{ Extensions map[string]any }
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
					t.Fatalf("response %d %q: %v", rec.Code, rec.Body, err)
				}
				if rec.Code != http.StatusOK || len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
					t.Fatalf("response %d %s, want one BAD_USER_INPUT error", rec.Code, rec.Body)
				}
				n := after.TotalAlloc - before.TotalAlloc
				t.Logf("%d bytes allocated", n)
				if n > 1<<20 {
					t.Fatalf("the request allocated %d bytes, want at most 1 MiB", n)
				}
			})
		}
	}
}
