// Package e2e drives the real gqlauth HTTP handler with real GraphQL
// documents, on SQLite and PostgreSQL, with the in-process and the Redis
// deny list.
package e2e

import (
	"testing"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

func TestSignUpSignInMe(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		email := apptest.UniqueEmail("core")
		p := c.SignUp(t, email, "correct horse")
		if p.TokenType != "Bearer" || p.ExpiresIn != 900 || p.RefreshToken == nil || *p.RefreshToken == "" {
			t.Fatalf("unexpected payload %+v", p)
		}
		c2 := srv.Client()
		c2.SignIn(t, email, "correct horse")
		var me struct{ Me struct{ ID, Email string } }
		c2.Do(t, `{ me { id email } }`, nil).Decode(t, &me)
		if me.Me.ID != p.User.ID || me.Me.Email != email {
			t.Fatalf("me = %+v, want %s %s", me.Me, p.User.ID, email)
		}
	})
}
