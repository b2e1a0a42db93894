package session

import (
	"context"
	"fmt"
	"time"

	"github.com/gqlauth/gqlauth/ent/deniedtoken"
	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	dbsession "github.com/gqlauth/gqlauth/ent/session"
)

// DeleteOldTokens deletes refresh tokens that expired, or were revoked,
// more than retention ago, then the sessions that ended (revoked, past
// their lifetime or idle too long) more than retention ago. Until then they stay listed in
// refreshTokens and sessions(includeRevoked: true), the user's session
// history; after that nothing needs them, and the tables stay bounded by
// the live sessions and one retention window. It also deletes the
// expired denied_tokens rows. It returns how many
// refresh tokens it deleted.
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
	ended := dbsession.Or(
		dbsession.RevokedAtLT(cutoff),
		dbsession.CreatedAtLT(cutoff.Add(-s.set.MaxLifetime)),
	)
	if s.set.IdleTimeout > 0 {
		ended = dbsession.Or(ended, dbsession.LastSeenAtLT(cutoff.Add(-s.set.IdleTimeout)))
	}
	if _, err := s.db.Session.Delete().Where(ended).Exec(ctx); err != nil {
		return n, fmt.Errorf("delete old sessions: %w", err)
	}
	// A denial is needed only while a token it denies can be valid.
	if _, err := s.db.DeniedToken.Delete().Where(deniedtoken.ExpiresAtLT(s.now())).Exec(ctx); err != nil {
		return n, fmt.Errorf("delete expired denials: %w", err)
	}
	return n, nil
}
