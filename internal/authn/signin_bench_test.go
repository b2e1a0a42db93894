package authn_test

import (
	"context"
	"testing"

	"github.com/gqlauth/gqlauth/internal/account"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/app"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/authn"
)

// BenchmarkFailedSignIn measures a refused sign-in (a wrong password at
// bcrypt's minimum cost, the lockout off) on each database: without the
// audit trail, with it (one INSERT of user.sign_in_failed on its own),
// and with webhooks too (a short transaction of the event and its
// delivery row). The differences are what the audit trail adds to the
// answer (docs/audit.md: never more than one insert).
func BenchmarkFailedSignIn(b *testing.B) {
	for _, backend := range []apptest.Backend{
		{Name: "sqlite"},
		{Name: "postgres", Postgres: true},
	} {
		for _, variant := range []string{"no-audit", "audit", "audit+webhook"} {
			b.Run(backend.Name+"/"+variant, func(b *testing.B) {
				vars := map[string]string{"LOGIN_MAX_FAILURES": "0"}
				if variant == "audit+webhook" {
					vars["WEBHOOK_URLS"] = "http://127.0.0.1:1/never"
					vars["WEBHOOK_SECRET"] = "whsec_MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="
					vars["WEBHOOK_RETRY_BASE"] = "1h"
				}
				cfg := apptest.Config(b, backend, vars)
				srv := apptest.Start(b, cfg)
				ctx := context.Background()
				email := apptest.UniqueEmail("bench")
				if _, err := srv.Accounts.SignUp(ctx, account.SignUpInput{Email: &email, Password: "correct horse battery"}); err != nil {
					b.Fatal(err)
				}
				var trail *audit.Trail
				if variant != "no-audit" {
					var err error
					if trail, _, err = app.AuditTrail(cfg, srv.DB.Client, srv.Log, nil, nil, nil); err != nil {
						b.Fatal(err)
					}
				}
				signIns := authn.NewSignIns(srv.DB.Client, srv.Passwords, srv.Sessions, nil, trail)
				in := authn.SignInInput{Email: &email, Password: "not the password"}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := signIns.SignIn(ctx, in); apierr.CodeOf(err) != apierr.Unauthenticated {
						b.Fatalf("sign-in: %v", err)
					}
				}
			})
		}
	}
}
