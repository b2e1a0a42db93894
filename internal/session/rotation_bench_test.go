package session_test

import (
	"context"
	"testing"

	"github.com/gqlauth/gqlauth/internal/account"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/session"
)

// BenchmarkRefreshRotation measures one refresh rotation through the
// service (the transaction that locks the session, revokes the presented
// token and stores its successor, plus the new access token) on each
// database. Each iteration presents the token the previous one returned,
// as a client does.
func BenchmarkRefreshRotation(b *testing.B) {
	for _, backend := range []apptest.Backend{
		{Name: "sqlite"},
		{Name: "postgres", Postgres: true},
	} {
		b.Run(backend.Name, func(b *testing.B) {
			srv := apptest.New(b, backend, nil)
			ctx := context.Background()
			email := apptest.UniqueEmail("rotate")
			sess, err := srv.Accounts.SignUp(ctx, account.SignUpInput{Email: &email, Password: "correct horse battery"})
			if err != nil {
				b.Fatalf("sign up: %v", err)
			}
			b.ReportAllocs()
			for b.Loop() {
				next, err := srv.Sessions.Refresh(ctx, session.Presented{Token: sess.RefreshToken})
				if err != nil {
					b.Fatalf("refresh: %v", err)
				}
				if next.RefreshToken == sess.RefreshToken || next.SessionID != sess.SessionID {
					b.Fatalf("rotation returned the same token or another session")
				}
				sess = next
			}
		})
	}
}
