package session

import (
	"context"

	"github.com/gqlauth/gqlauth/ent"
)

// PresentedToken is s.presentedToken, for the test that checks the
// statement made once reads what ent's builder reads.
func PresentedToken(ctx context.Context, s *Service, tx *ent.Tx, raw string) (*ent.RefreshToken, string, error) {
	return s.presentedToken(ctx, tx, raw)
}

// WithoutDialect is a copy of s that does not know its dialect, so that
// it reads presented tokens through ent's builder.
func WithoutDialect(s *Service) *Service {
	c := *s
	c.dialect = ""
	return &c
}
