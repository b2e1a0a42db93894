package e2e

import (
	"net/http"
	"testing"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// maliciousCursors are cursors a client may forge: msgpack announcing a
// map of 2³²-1 entries as the value (msgpack v5.3.5 allocated 80 MiB
// decoding it), a string of 4 GiB, an array in a map, and a key given
// twice (msgpack panicked on it: an internal error).
var maliciousCursors = []string{"gaF23/////8", "gaF22/////8", "gaF2gaF43f////8", "gqF2xAEAoXbEAQA"}

// TestUsersMaliciousCursor: forged cursors get BAD_USER_INPUT, like a
// corrupt one, from every connection: users and auditEvents as an admin,
// securityActivity as any user, users without signing in (arguments are
// read before the resolver checks who asks), and real cursors still page.
func TestUsersMaliciousCursor(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		admin := newAdmin(t, srv, "admin")
		plain := signUp(t, srv, "plain")
		seedUsers(t, srv, 3)
		for _, cursor := range maliciousCursors {
			for _, tc := range []struct {
				who   *apptest.Client
				query string
			}{
				{admin.Client, `query($c: Cursor) { users(first: 2, after: $c) { totalCount } }`},
				{admin.Client, `query($c: Cursor) { users(last: 2, before: $c, orderBy: {field: EMAIL}) { totalCount } }`},
				{admin.Client, `query($c: Cursor) { auditEvents(first: 2, after: $c) { pageInfo { hasNextPage } } }`},
				{admin.Client, `query($c: Cursor) { auditEvents(last: 2, before: $c) { pageInfo { hasNextPage } } }`},
				{plain.Client, `query($c: Cursor) { securityActivity(after: $c) { pageInfo { hasNextPage } } }`},
				{srv.Client(), `query($c: Cursor) { users(after: $c) { totalCount } }`},
			} {
				res := tc.who.Do(t, tc.query, map[string]any{"c": cursor})
				if res.Status != http.StatusOK || len(res.Errors) != 1 || res.Code() != "BAD_USER_INPUT" ||
					res.Errors[0].Message != "not a valid cursor" {
					t.Fatalf("cursor %s, %s: %d %s, want BAD_USER_INPUT: not a valid cursor", cursor, tc.query, res.Status, res.Body)
				}
			}
		}
		// The server is unharmed and real cursors still page.
		var p page
		admin.Do(t, pageQuery, map[string]any{"first": 2, "order": map[string]any{"field": "EMAIL"}}).Decode(t, &p)
		admin.Do(t, pageQuery, map[string]any{"first": 2, "after": p.Users.PageInfo.EndCursor,
			"order": map[string]any{"field": "EMAIL"}}).Decode(t, &p)
		if len(p.Users.Edges) != 2 || !p.Users.PageInfo.HasPreviousPage {
			t.Fatalf("second EMAIL page: %d edges, hasPreviousPage %v", len(p.Users.Edges), p.Users.PageInfo.HasPreviousPage)
		}
	})
}
