package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apptest"
)

// TestRefreshStatementCount bounds the SQL a refresh makes: one read of
// the presented token joined with its session and user, the session's
// lock (its conditional UPDATE), the token's conditional UPDATE, the
// successor's INSERT, between BEGIN and COMMIT; the audit event's INSERT
// only with AUDIT_REFRESHES. Before the joined read, the token, its user
// and its session were three SELECTs (6 statements, 7 audited).
func TestRefreshStatementCount(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		for _, tc := range []struct {
			audit string
			want  int
		}{{"false", 4}, {"true", 5}} {
			counter := &sqlCounter{}
			srv := apptest.Start(t, apptest.Config(t, b, map[string]string{"AUDIT_REFRESHES": tc.audit}), ent.Debug(), ent.Log(counter.record))
			c := srv.Client()
			email := apptest.UniqueEmail("count")
			c.SignUp(t, email, password)
			p := c.SignIn(t, email, password)
			for i := range 3 {
				var next apptest.Payload
				_, all := counter.during(func() { next = mustRefresh(t, c, *p.RefreshToken) })
				// The mail outbox worker sends the sign-up's mail beside.
				stmts := slices.DeleteFunc(all, func(s string) bool { return strings.Contains(s, "mail_messages") })
				n := len(stmts)
				if *next.RefreshToken == *p.RefreshToken {
					t.Fatalf("refresh %d handed out the presented token", i)
				}
				p = next
				t.Logf("AUDIT_REFRESHES=%s refresh %d: %d SQL statements", tc.audit, i, n)
				if n != tc.want {
					t.Fatalf("AUDIT_REFRESHES=%s refresh %d: %d SQL statements, want %d:\n%s", tc.audit, i, n, tc.want, strings.Join(stmts, "\n"))
				}
			}
		}
	})
}
