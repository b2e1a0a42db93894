package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/account"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/session"
)

// TestPresentedStatementReadsAsEnt: the statement a refresh reads its
// token with (made once for the service's dialect, scanned field by
// field) reads what ent's builder reads, token, session and user, null
// columns and set ones alike, on both databases; a value that matches no
// token is not found by either.
func TestPresentedStatementReadsAsEnt(t *testing.T) {
	apptest.ForEach(t, []apptest.Backend{{Name: "sqlite"}, {Name: "postgres", Postgres: true}}, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		ctx := context.Background()
		bare := apptest.UniqueEmail("presented")
		plain, err := srv.Accounts.SignUp(ctx, account.SignUpInput{Email: &bare, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		full := apptest.UniqueEmail("presented")
		rich, err := srv.Accounts.SignUp(ctx, account.SignUpInput{Email: &full, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.DB.User.UpdateOneID(rich.User.ID).SetFirstName("Ada").SetLastName("Lovelace").SetAge(36).
			SetUsername("ada_p").SetUsernameKey("ada_p").SetEmailVerifiedAt(time.Now()).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := srv.DB.Session.UpdateOneID(rich.SessionID).SetAal(2).SetAmr([]string{"pwd", "otp"}).SetAuthTime(time.Now()).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		// A rotated token: revoked, with a reason and a sealed successor.
		if _, err := srv.Sessions.Refresh(ctx, session.Presented{Token: rich.RefreshToken}); err != nil {
			t.Fatal(err)
		}
		fast, slow := srv.Sessions, session.WithoutDialect(srv.Sessions)
		for _, raw := range []string{plain.RefreshToken, rich.RefreshToken, "no such token " + uuid.NewString()} {
			err := database.WithTx(ctx, srv.DB.Client, func(tx *ent.Tx) error {
				want, wantDia, wantErr := session.PresentedToken(ctx, slow, tx, raw)
				got, gotDia, gotErr := session.PresentedToken(ctx, fast, tx, raw)
				if (wantErr == nil) != (gotErr == nil) || gotDia != wantDia {
					t.Fatalf("ent: %v (%s), statement: %v (%s)", wantErr, wantDia, gotErr, gotDia)
				}
				if wantErr != nil {
					return nil
				}
				norm := func(rt *ent.RefreshToken) []any {
					u, s := *rt.Edges.User, *rt.Edges.Session
					rt2 := *rt
					rt2.Edges = ent.RefreshTokenEdges{}
					return []any{rt2, s, u}
				}
				if diff := cmp.Diff(norm(want), norm(got), cmpopts.IgnoreUnexported(ent.RefreshToken{}, ent.Session{}, ent.User{}, ent.RefreshTokenEdges{}, ent.SessionEdges{}, ent.UserEdges{}),
					cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
					t.Errorf("read differs (-ent +statement):\n%s", diff)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}
