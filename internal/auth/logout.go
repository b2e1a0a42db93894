package auth

import (
	"context"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/request"
	"github.com/gqlauth/gqlauth/internal/token"
)

// LogoutScope says which sessions a logout ends.
type LogoutScope string

// The logout scopes (the GraphQL enum LogoutScope).
const (
	// LogoutLocal ends the current session.
	LogoutLocal LogoutScope = "LOCAL"
	// LogoutOthers ends every session of the user but the current one.
	LogoutOthers LogoutScope = "OTHERS"
	// LogoutGlobal ends every session of the user, and denies every
	// access token the user was issued before now.
	LogoutGlobal LogoutScope = "GLOBAL"
)

// Logout ends sessions of the caller, who is known by a valid access
// token or by a refresh token (argument, or cookie with the CSRF header).
func (s *Service) Logout(ctx context.Context, scope LogoutScope, arg *string) (bool, error) {
	info := request.From(ctx)
	v, verr := OptionalViewer(ctx)
	if verr != nil && !IsUnauthenticated(verr) {
		return false, verr // the deny list is down: fail closed
	}
	presented, cerr := s.set.Cookies.refreshTokenFrom(info, arg)
	raw := presented.raw

	var userID, sessionID uuid.UUID
	switch {
	case v != nil:
		userID, sessionID = v.UserID, v.SessionID
	case raw != "":
		rt, err := s.db.RefreshToken.Query().Where(refreshtoken.TokenHash(token.HashRefreshToken(raw))).Only(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return false, err
		}
		if err != nil {
			return false, errRefreshInvalid
		}
		if err := s.set.Cookies.verifySession(presented, rt.SessionID); err != nil {
			return false, err
		}
		if rt.RevokedAt != nil {
			return false, errRefreshInvalid
		}
		userID, sessionID = rt.UserID, rt.SessionID
	case cerr != nil:
		return false, cerr
	case verr != nil:
		return false, verr
	default:
		return false, apierr.New(apierr.Unauthenticated, "logout needs an access token or a refresh token")
	}

	// The denials that cover the caller's own access tokens are written
	// before the refresh tokens are revoked. When the deny list is down,
	// the logout then fails with nothing changed and can be retried; the
	// other order would revoke the refresh token, fail, and leave a retry
	// nothing to log out with while the access tokens kept working.
	if scope != LogoutOthers {
		if err := s.deny.DenySessions(ctx, sessionID.String()); err != nil {
			return false, errDenyUnavailable(err)
		}
		if v != nil && v.Claims != nil { // nil Claims: a WithViewer viewer, no token
			if err := s.deny.DenyToken(ctx, v.Claims.ID); err != nil {
				return false, errDenyUnavailable(err)
			}
		}
	}
	if scope == LogoutGlobal {
		if err := s.deny.DenyUserBefore(ctx, userID.String(), s.now()); err != nil {
			return false, errDenyUnavailable(err)
		}
	}

	err := withTx(ctx, s.db, func(tx *ent.Tx) error {
		var (
			sids []string
			err  error
		)
		switch scope {
		case LogoutOthers:
			sids, err = s.revokeWhere(ctx, tx, ReasonLogout, refreshtoken.UserID(userID), refreshtoken.SessionIDNEQ(sessionID))
		case LogoutGlobal:
			sids, err = s.revokeWhere(ctx, tx, ReasonLogout, refreshtoken.UserID(userID))
		default:
			sids, err = s.revokeWhere(ctx, tx, ReasonLogout, refreshtoken.SessionID(sessionID))
		}
		if err != nil {
			return err
		}
		// The other sessions ended here (OTHERS, and GLOBAL for tokens
		// issued in the very second of the logout, which the not-before
		// cannot catch). Denied before the commit: if the deny list fails,
		// nothing is revoked and a retry finds the sessions again.
		return s.denySessions(ctx, sids)
	})
	if err != nil {
		return false, err
	}
	if scope != LogoutOthers {
		s.set.Cookies.clear(info)
	}
	return true, nil
}

// errDenyUnavailable is the answer when the deny list cannot be written.
func errDenyUnavailable(err error) error {
	return apierr.Wrap(apierr.ServiceUnavailable, "the session store is unavailable; try again shortly", err)
}

// denySessions denies the access tokens of sessions whose refresh tokens
// are being revoked. Callers run it inside the revoking transaction, so
// that a deny-list failure rolls the revocation back and a retry can find
// the sessions again; the other order would leave their access tokens
// working with nothing left to revoke.
func (s *Service) denySessions(ctx context.Context, sids []string) error {
	if err := s.deny.DenySessions(ctx, sids...); err != nil {
		return errDenyUnavailable(err)
	}
	return nil
}

// Revoke ends the session of one refresh token, named by its value
// (argument, else the cookie) or by its id. The caller must own it or be
// an admin; anyone else is told it does not exist.
func (s *Service) Revoke(ctx context.Context, arg *string, id *uuid.UUID) (bool, error) {
	v, err := ViewerFrom(ctx)
	if err != nil {
		return false, err
	}
	info := request.From(ctx)
	q := s.db.RefreshToken.Query()
	var presented presentedToken
	switch {
	case arg != nil && *arg != "":
		q.Where(refreshtoken.TokenHash(token.HashRefreshToken(*arg)))
	case id != nil:
		q.Where(refreshtoken.ID(*id))
	default:
		presented, err = s.set.Cookies.refreshTokenFrom(info, nil)
		if err != nil {
			return false, err
		}
		if presented.raw == "" {
			return false, apierr.Invalid(map[string]string{"refreshToken": "give a refresh token or the id of one"})
		}
		q.Where(refreshtoken.TokenHash(token.HashRefreshToken(presented.raw)))
	}
	rt, err := q.Only(ctx)
	if ent.IsNotFound(err) || (err == nil && !v.CanAccessUser(rt.UserID)) {
		return false, errRefreshNotFound
	}
	if err != nil {
		return false, err
	}
	if err := s.set.Cookies.verifySession(presented, rt.SessionID); err != nil {
		return false, err
	}
	if rt.RevokedAt != nil || !s.now().Before(rt.ExpiresAt) {
		return false, apierr.New(apierr.BadUserInput, "the refresh token is already revoked or expired")
	}
	err = withTx(ctx, s.db, func(tx *ent.Tx) error {
		sids, err := s.revokeWhere(ctx, tx, ReasonRevoked, refreshtoken.SessionID(rt.SessionID))
		if err != nil {
			return err
		}
		return s.denySessions(ctx, sids)
	})
	if err != nil {
		return false, err
	}
	if rt.SessionID == v.SessionID {
		s.set.Cookies.clear(info)
	}
	return true, nil
}

// RefreshTokens lists every refresh token of a user, live and revoked,
// newest first. Only the user and admins may see them.
func (s *Service) RefreshTokens(ctx context.Context, userID uuid.UUID) ([]*ent.RefreshToken, error) {
	v, err := ViewerFrom(ctx)
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
