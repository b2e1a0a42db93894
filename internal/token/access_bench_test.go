package token_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/token"
)

// benchSubject is a typical signed-in user: an email, no username.
func benchSubject() token.Subject {
	email := "ada@example.com"
	return token.Subject{UserID: uuid.Must(uuid.NewV7()), SessionID: uuid.Must(uuid.NewV7()), Role: "USER", Email: &email}
}

// BenchmarkIssue measures signing one access token, the cost every
// sign-in and refresh pays once.
func BenchmarkIssue(b *testing.B) {
	iss := token.NewIssuer("bench-secret-bench-secret-bench-secret", "gqlauth", "gqlauth", 15*time.Minute)
	sub := benchSubject()
	b.ReportAllocs()
	for b.Loop() {
		raw, _, err := iss.Issue(sub)
		if err != nil || raw == "" {
			b.Fatalf("issue: %q, %v", raw, err)
		}
	}
}

// BenchmarkVerify measures verifying one access token, the cost every
// authenticated request pays before its deny-list check.
func BenchmarkVerify(b *testing.B) {
	iss := token.NewIssuer("bench-secret-bench-secret-bench-secret", "gqlauth", "gqlauth", 15*time.Minute)
	sub := benchSubject()
	raw, _, err := iss.Issue(sub)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := iss.Verify(raw)
		if err != nil || c.Subject != sub.UserID.String() {
			b.Fatalf("verify: %v", err)
		}
	}
}

// BenchmarkNewRefreshToken measures making one refresh token and its hash.
func BenchmarkNewRefreshToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		raw, hash := token.NewRefreshToken()
		if len(raw) != 43 || len(hash) != 32 {
			b.Fatalf("refresh token %q, hash of %d bytes", raw, len(hash))
		}
	}
}
