package session

import (
	"context"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	dbsession "github.com/gqlauth/gqlauth/ent/session"
	"github.com/gqlauth/gqlauth/internal/policy"
)

// List returns the sessions of a user (the caller when userID is nil),
// most recently seen first: only the live ones unless includeRevoked,
// which adds those that were ended or expired. The user themself or an
// admin only (OWASP ASVS 5.0 7.5.2: users can view and end their
// sessions).
func (s *Service) List(ctx context.Context, userID *uuid.UUID, includeRevoked bool) ([]*ent.Session, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	uid := v.UserID
	if userID != nil {
		uid = *userID
	}
	if err := v.RequireAccessTo(uid); err != nil {
		return nil, err
	}
	q := s.db.Session.Query().Where(dbsession.UserID(uid))
	if !includeRevoked {
		now := s.now()
		q.Where(dbsession.RevokedAtIsNil(), dbsession.CreatedAtGT(now.Add(-s.set.MaxLifetime)))
		if s.set.IdleTimeout > 0 {
			q.Where(dbsession.LastSeenAtGT(now.Add(-s.set.IdleTimeout)))
		}
	}
	return q.Order(ent.Desc(dbsession.FieldLastSeenAt), ent.Desc(dbsession.FieldID)).All(ctx)
}

// Active reports whether a session can still refresh: not ended, within
// its lifetime and not idle too long.
func (s *Service) Active(sess *ent.Session) bool {
	return sess.RevokedAt == nil && s.checkLive(sess, s.now()) == nil
}

// Current reports whether sess is the session of the request's caller.
func Current(ctx context.Context, sess *ent.Session) bool {
	v, err := policy.OptionalViewer(ctx)
	return err == nil && v != nil && v.SessionID == sess.ID
}

// RefreshTokens lists every refresh token of a user, live and revoked,
// newest first. Only the user and admins may see them.
func (s *Service) RefreshTokens(ctx context.Context, userID uuid.UUID) ([]*ent.RefreshToken, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := v.RequireAccessTo(userID); err != nil {
		return nil, err
	}
	return s.db.RefreshToken.Query().
		Where(refreshtoken.UserID(userID)).
		Order(ent.Desc(refreshtoken.FieldCreatedAt), ent.Desc(refreshtoken.FieldID)).
		All(ctx)
}

// TokenActive reports whether a refresh token can still be used: neither
// revoked nor expired.
func (s *Service) TokenActive(rt *ent.RefreshToken) bool {
	return rt.RevokedAt == nil && s.now().Before(rt.ExpiresAt)
}
