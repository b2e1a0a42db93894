package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/gqlauth/gqlauth/ent/refreshtoken"
)

// DeleteOldTokens deletes refresh tokens that expired, or were revoked,
// more than retention ago. Until then they stay listed in refreshTokens,
// the user's session history; after that nothing needs them, and the
// table stays bounded by the live tokens and one retention window.
func (s *Service) DeleteOldTokens(ctx context.Context, retention time.Duration) (int, error) {
	cutoff := s.now().Add(-retention)
	n, err := s.db.RefreshToken.Delete().
		Where(refreshtoken.Or(
			refreshtoken.ExpiresAtLT(cutoff),
			refreshtoken.RevokedAtLT(cutoff),
		)).
		Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("delete old refresh tokens: %w", err)
	}
	return n, nil
}
