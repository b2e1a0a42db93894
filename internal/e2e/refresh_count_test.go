package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apptest"
)

// userFields are every field of the GraphQL User type.
const userFields = `id createdAt updatedAt email emailVerifiedAt username firstName lastName age role emailVerified`

// TestRefreshStatementCount counts the SQL a refresh makes: one read of
// the presented token joined with its session and user, the session's
// lock (its conditional UPDATE), the token's conditional UPDATE and the
// successor's INSERT (one statement on PostgreSQL), between BEGIN and
// COMMIT; the audit event's INSERT only with AUDIT_REFRESHES. Before, the
// token, its user and its session were three SELECTs, and the UPDATE and
// INSERT two statements on both databases (6 statements, 7 audited). The
// user a refresh answers with, read by that join, is the one `me` reads,
// and the access token carries the session's claims as before.
func TestRefreshStatementCount(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		for _, tc := range []struct {
			audit string
			want  int
		}{{"false", 4}, {"true", 5}} {
			if b.Postgres {
				tc.want-- // the UPDATE and the INSERT in one statement
			}
			counter := &sqlCounter{}
			srv := apptest.Start(t, apptest.Config(t, b, map[string]string{"AUDIT_REFRESHES": tc.audit}), ent.Debug(), ent.Log(counter.record))
			c := srv.Client()
			email := apptest.UniqueEmail("count")
			c.SignUp(t, email, password)
			wantOK(t, c.Do(t, `mutation { updateProfile(input: {firstName: "Ada", lastName: "Lovelace", username: "ada`+tc.audit+`"}) { id } }`, nil))
			p := c.SignIn(t, email, password)
			var me struct{ Me json.RawMessage }
			c.Do(t, `{ me { `+userFields+` } }`, nil).Decode(t, &me)
			access := p.AccessToken
			for i := range 3 {
				var out struct {
					Refresh struct {
						AccessToken  string
						RefreshToken string
						User         json.RawMessage
					}
				}
				_, all := counter.during(func() {
					post, err := post(srv.URL(), "", `mutation($t: String) { refresh(refreshToken: $t) { accessToken refreshToken user { `+userFields+` } } }`,
						map[string]any{"t": *p.RefreshToken})
					if err != nil {
						t.Fatal(err)
					}
					post.Decode(t, &out)
				})
				// The mail outbox worker sends the sign-up's mail beside.
				stmts := slices.DeleteFunc(all, func(s string) bool { return strings.Contains(s, "mail_messages") })
				n := len(stmts)
				got := out.Refresh
				if got.RefreshToken == "" || got.RefreshToken == *p.RefreshToken {
					t.Fatalf("refresh %d handed out no new token", i)
				}
				if string(got.User) != string(me.Me) {
					t.Fatalf("refresh %d answered user %s, me reads %s", i, got.User, me.Me)
				}
				before, after := claims(t, access), claims(t, got.AccessToken)
				for _, k := range []string{"sub", "sid", "role", "email", "aal", "amr", "auth_time", "email_verified"} {
					if string(mustJSON(before[k])) != string(mustJSON(after[k])) || before[k] == nil && k != "email_verified" {
						t.Fatalf("refresh %d: claim %s %v, was %v", i, k, after[k], before[k])
					}
				}
				p.RefreshToken, access = &got.RefreshToken, got.AccessToken
				t.Logf("AUDIT_REFRESHES=%s refresh %d: %d SQL statements", tc.audit, i, n)
				if n != tc.want {
					t.Fatalf("AUDIT_REFRESHES=%s refresh %d: %d SQL statements, want %d:\n%s", tc.audit, i, n, tc.want, strings.Join(stmts, "\n"))
				}
			}
		}
	})
}
