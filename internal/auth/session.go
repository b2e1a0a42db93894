package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/predicate"
	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	"github.com/gqlauth/gqlauth/ent/schema"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/request"
	"github.com/gqlauth/gqlauth/internal/token"
)

// Reasons recorded in RefreshToken.revoked_reason.
const (
	ReasonRotated         = "rotated"
	ReasonLogout          = "logout"
	ReasonRevoked         = "revoked"
	ReasonReuseDetected   = "reuse_detected"
	ReasonPasswordChanged = "password_changed"
)

// maxGraceHops bounds how far a grace-window refresh follows a chain of
// rotations (a client that lost several responses in a row).
const maxGraceHops = 4

var (
	errRefreshInvalid  = apierr.New(apierr.Unauthenticated, "invalid, expired or revoked refresh token")
	errRefreshMissing  = apierr.New(apierr.Unauthenticated, "a refresh token is required (argument or cookie)")
	errSessionExpired  = apierr.New(apierr.Unauthenticated, "the session has reached its maximum lifetime; sign in again")
	errReuseDetected   = apierr.New(apierr.Unauthenticated, "refresh token reuse detected; the session has been revoked")
	errRefreshNotFound = apierr.New(apierr.NotFound, "refresh token not found")
)

// issued is a session's new tokens before they are handed out.
type issued struct {
	user      *ent.User
	sessionID uuid.UUID
	refresh   string
	expires   time.Time
}

// startSession stores the first refresh token of a new session for u.
// Like every later token of the session, it expires no later than the
// session's absolute lifetime, so that neither the token nor its cookie
// outlives a session that SESSION_MAX_LIFETIME has already ended.
// The caller hands the tokens out (handOut) only after its transaction
// commits, so no cookie names a token that was never stored.
func (s *Service) startSession(ctx context.Context, tx *ent.Tx, u *ent.User) (issued, error) {
	now := s.now()
	raw, hash := token.NewRefreshToken()
	expires := earliest(now.Add(s.set.RefreshTokenTTL), now.Add(s.set.SessionMaxLifetime))
	is := issued{user: u, sessionID: schema.NewID(), refresh: raw, expires: expires}
	return is, s.storeToken(ctx, tx, is, hash, now, now, schema.NewID())
}

// storeToken inserts one refresh token of a session.
func (s *Service) storeToken(ctx context.Context, tx *ent.Tx, is issued, hash []byte, now, started time.Time, id uuid.UUID) error {
	info := request.From(ctx)
	c := tx.RefreshToken.Create().
		SetID(id).
		SetUserID(is.user.ID).
		SetTokenHash(hash).
		SetSessionID(is.sessionID).
		SetCreatedAt(now).
		SetExpiresAt(is.expires).
		SetSessionStartedAt(started)
	if info.UserAgent != "" {
		c.SetUserAgent(truncate(info.UserAgent, 512))
	}
	if info.IP != "" {
		c.SetIP(truncate(info.IP, 64))
	}
	if err := c.Exec(ctx); err != nil {
		return fmt.Errorf("store refresh token: %w", err)
	}
	return nil
}

// handOut signs the access token of a session and sets its cookies.
func (s *Service) handOut(ctx context.Context, is issued) (*Session, error) {
	access, _, err := s.tokens.Issue(token.Subject{
		UserID:    is.user.ID,
		SessionID: is.sessionID,
		Role:      string(is.user.Role),
		Email:     is.user.Email,
		Username:  is.user.Username,
	})
	if err != nil {
		return nil, err
	}
	s.set.Cookies.setSessionCookies(request.From(ctx), is.refresh, is.sessionID, is.expires)
	return &Session{
		AccessToken:  access,
		RefreshToken: is.refresh,
		ExpiresIn:    int(s.tokens.TTL().Seconds()),
		User:         is.user,
		SessionID:    is.sessionID.String(),
	}, nil
}

// refresh rotates a refresh token: the presented token is revoked and
// replaced by a new one of the same session, and a new access token is
// issued.
//
// Rotation is decided by a conditional UPDATE … WHERE revoked_at IS NULL:
// of two concurrent rotations of one token, exactly one changes the row;
// PostgreSQL makes the other wait for the row lock, SQLite for the write
// lock (every transaction begins IMMEDIATE). The loser then sees the
// token as rotated and takes the path below.
//
// A token rotated less than RefreshReuseGrace ago (two tabs refreshing at
// once, or a response lost on the way) yields the successor that was
// already issued, unsealed with the presented token, so the session
// neither forks nor ends. Presented later, it is a replay: someone holds a
// copy of an old token, so the whole session is revoked and its access
// tokens denied. The revocation is committed although the request fails.
func (s *Service) refresh(ctx context.Context, arg *string) (*Session, error) {
	presented, err := s.set.Cookies.refreshTokenFrom(request.From(ctx), arg)
	if err != nil {
		return nil, err
	}
	raw := presented.raw
	if raw == "" {
		return nil, errRefreshMissing
	}
	var (
		is     issued
		replay *ent.RefreshToken
	)
	err = withTx(ctx, s.db, func(tx *ent.Tx) error {
		for attempt := 0; attempt < 2; attempt++ {
			rt, err := tx.RefreshToken.Query().
				Where(refreshtoken.TokenHash(token.HashRefreshToken(raw))).
				WithUser().
				Only(ctx)
			if ent.IsNotFound(err) {
				return errRefreshInvalid
			}
			if err != nil {
				return err
			}
			// Before anything changes: a forged CSRF value must not be
			// able to rotate, nor to trip reuse detection.
			if err := s.set.Cookies.verifySession(presented, rt.SessionID); err != nil {
				return err
			}
			now := s.now()
			switch {
			case rt.RevokedAt == nil:
				ok, err := s.rotate(ctx, tx, rt, raw, now, &is)
				if err != nil || ok {
					return err
				}
				// Lost the race to a concurrent rotation: look again.
			case s.inGrace(rt, now):
				return s.reissue(ctx, tx, rt, raw, now, &is)
			case rt.RevokedReason != nil && *rt.RevokedReason == ReasonRotated:
				replay = rt
				_, err := s.revokeWhere(ctx, tx, ReasonReuseDetected, refreshtoken.SessionID(rt.SessionID))
				return err
			default:
				return errRefreshInvalid
			}
		}
		return errRefreshInvalid
	})
	if err != nil {
		return nil, err
	}
	if replay != nil {
		s.log.WarnContext(ctx, "refresh token reuse detected; session revoked",
			"user_id", replay.UserID, "session_id", replay.SessionID, "token_id", replay.ID,
			"ip", request.From(ctx).IP)
		if err := s.deny.DenySessions(ctx, replay.SessionID.String()); err != nil {
			s.log.ErrorContext(ctx, "deny session after reuse", "error", err)
		}
		s.set.Cookies.clear(request.From(ctx))
		return nil, errReuseDetected
	}
	return s.handOut(ctx, is)
}

// inGrace reports whether rt was rotated recently enough that presenting
// it again is a concurrent refresh rather than a replay.
func (s *Service) inGrace(rt *ent.RefreshToken, now time.Time) bool {
	return s.set.RefreshReuseGrace > 0 &&
		rt.RevokedReason != nil && *rt.RevokedReason == ReasonRotated &&
		len(rt.SealedSuccessor) > 0 &&
		now.Before(rt.RevokedAt.Add(s.set.RefreshReuseGrace))
}

// rotate replaces the live token rt. It reports false when a concurrent
// rotation changed rt first.
func (s *Service) rotate(ctx context.Context, tx *ent.Tx, rt *ent.RefreshToken, raw string, now time.Time, is *issued) (bool, error) {
	// The session's end is checked first: tokens expire with it, and the
	// client should learn that signing in again is the only way on.
	deadline := rt.SessionStartedAt.Add(s.set.SessionMaxLifetime)
	if !now.Before(deadline) {
		return false, errSessionExpired
	}
	if !now.Before(rt.ExpiresAt) {
		return false, errRefreshInvalid
	}
	next, nextHash := token.NewRefreshToken()
	nextID := schema.NewID()
	n, err := tx.RefreshToken.Update().
		Where(refreshtoken.ID(rt.ID), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(now).
		SetRevokedReason(ReasonRotated).
		SetReplacedBy(nextID).
		SetLastUsedAt(now).
		SetSealedSuccessor(sealSuccessor(raw, next)).
		Save(ctx)
	if err != nil {
		return false, fmt.Errorf("revoke rotated token: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	*is = issued{
		user:      rt.Edges.User,
		sessionID: rt.SessionID,
		refresh:   next,
		expires:   earliest(now.Add(s.set.RefreshTokenTTL), deadline),
	}
	return true, s.storeToken(ctx, tx, *is, nextHash, now, rt.SessionStartedAt, nextID)
}

// reissue answers a grace-window refresh with the live successor of rt.
func (s *Service) reissue(ctx context.Context, tx *ent.Tx, rt *ent.RefreshToken, raw string, now time.Time, is *issued) error {
	cur, curRaw := rt, raw
	for hop := 0; hop < maxGraceHops; hop++ {
		next, err := unsealSuccessor(curRaw, cur.SealedSuccessor)
		if err != nil {
			return errRefreshInvalid
		}
		succ, err := tx.RefreshToken.Query().Where(refreshtoken.TokenHash(token.HashRefreshToken(next))).Only(ctx)
		if ent.IsNotFound(err) {
			return errRefreshInvalid
		}
		if err != nil {
			return err // a database failure, not a bad token: the client keeps it
		}
		if succ.RevokedAt == nil {
			if !now.Before(succ.ExpiresAt) {
				return errRefreshInvalid
			}
			if err := tx.RefreshToken.UpdateOneID(rt.ID).SetLastUsedAt(now).Exec(ctx); err != nil {
				return err
			}
			*is = issued{user: rt.Edges.User, sessionID: rt.SessionID, refresh: next, expires: succ.ExpiresAt}
			return nil
		}
		if !s.inGrace(succ, now) {
			return errRefreshInvalid
		}
		cur, curRaw = succ, next
	}
	return errRefreshInvalid
}

// maxRevokePasses bounds the passes of revokeWhere. Each extra pass is
// needed only when a rotation of the same session committed meanwhile,
// which a client cannot keep doing faster than the passes run.
const maxRevokePasses = 8

// revokeWhere revokes the live tokens matching preds, records why, and
// returns the sessions they belonged to (to deny their access tokens).
//
// It repeats until a pass finds nothing live. On PostgreSQL (READ
// COMMITTED) an UPDATE that waited for a concurrent rotation's row lock
// skips the rotated row and cannot see the successor that rotation just
// inserted, so a single UPDATE would let a logout racing a refresh leave
// the session with a live token; the next pass, a new statement, sees it.
// (On SQLite transactions never overlap and the second pass finds nothing.)
func (s *Service) revokeWhere(ctx context.Context, tx *ent.Tx, reason string, preds ...predicate.RefreshToken) ([]string, error) {
	preds = append(preds, refreshtoken.RevokedAtIsNil())
	seen := map[uuid.UUID]bool{}
	var out []string
	for pass := 0; ; pass++ {
		var sids []uuid.UUID
		if err := tx.RefreshToken.Query().Where(preds...).Unique(true).Select(refreshtoken.FieldSessionID).Scan(ctx, &sids); err != nil {
			return nil, fmt.Errorf("find sessions: %w", err)
		}
		if len(sids) == 0 {
			return out, nil
		}
		if pass == maxRevokePasses {
			return nil, errors.New("revoke tokens: sessions kept rotating during revocation")
		}
		for _, id := range sids {
			if !seen[id] {
				seen[id] = true
				out = append(out, id.String())
			}
		}
		if err := tx.RefreshToken.Update().Where(preds...).SetRevokedAt(s.now()).SetRevokedReason(reason).Exec(ctx); err != nil {
			return nil, fmt.Errorf("revoke tokens: %w", err)
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// truncate makes a client-supplied header safe to store: valid UTF-8
// (PostgreSQL refuses anything else in a text column, and a header may
// hold any bytes) and at most n bytes, cut at a character boundary.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// IsActive reports whether a refresh token can still be used: neither
// revoked nor expired.
func IsActive(rt *ent.RefreshToken) bool {
	return rt.RevokedAt == nil && time.Now().Before(rt.ExpiresAt)
}
