package token_test

import (
	"context"
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

// benchIssuer is an Issuer whose current key has algorithm alg (HS256:
// the legacy key of a JWT_ACCESS_SECRET).
func benchIssuer(b *testing.B, alg token.Algorithm) *token.Issuer {
	var k *token.Key
	if alg == token.HS256 {
		k = token.LegacyKey("bench-secret-bench-secret-bench-secret")
	} else {
		var err error
		if k, err = token.GenerateKey(alg); err != nil {
			b.Fatal(err)
		}
		k.State = token.Current
	}
	set, err := token.NewKeySet(context.Background(), token.StaticKeys{k}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return token.NewIssuer(set, token.IssuerSettings{Issuer: "gqlauth", Audience: "gqlauth", TTL: 15 * time.Minute})
}

// benchAlgorithms are the algorithms a signing key may have.
var benchAlgorithms = []token.Algorithm{token.ES256, token.EdDSA, token.RS256, token.HS256}

// BenchmarkIssue measures signing one access token, the cost every
// sign-in and refresh pays once, with each algorithm.
func BenchmarkIssue(b *testing.B) {
	for _, alg := range benchAlgorithms {
		b.Run(string(alg), func(b *testing.B) {
			iss := benchIssuer(b, alg)
			sub := benchSubject()
			b.ReportAllocs()
			for b.Loop() {
				raw, _, err := iss.Issue(sub)
				if err != nil || raw == "" {
					b.Fatalf("issue: %q, %v", raw, err)
				}
			}
		})
	}
}

// BenchmarkVerify measures verifying one access token, the cost every
// authenticated request pays before its deny-list check, with each algorithm.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range benchAlgorithms {
		b.Run(string(alg), func(b *testing.B) {
			iss := benchIssuer(b, alg)
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
		})
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
