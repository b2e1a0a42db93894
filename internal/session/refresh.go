package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	"github.com/gqlauth/gqlauth/ent/schema"
	dbsession "github.com/gqlauth/gqlauth/ent/session"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/request"
	"github.com/gqlauth/gqlauth/internal/token"
)

// maxGraceHops bounds how far a grace-window refresh follows a chain of
// rotations (a client that lost several responses in a row).
const maxGraceHops = 4

// tokenByValue finds the stored refresh token whose value is raw (by its
// SHA-256), with its user and session: the one lookup of a token by value.
func tokenByValue(ctx context.Context, q *ent.RefreshTokenQuery, raw string) (*ent.RefreshToken, error) {
	return q.Where(refreshtoken.TokenHash(token.HashRefreshToken(raw))).WithUser().WithSession().Only(ctx)
}

// Refresh rotates a refresh token: the presented token is revoked and
// replaced by a new one of the same session, and a new access token is
// issued. The attempt is counted by the service's Recorder.
//
// Rotation is decided by conditional UPDATEs … WHERE revoked_at IS NULL,
// first of the session row, then of the token: of two concurrent
// rotations of one token, exactly one changes the token; PostgreSQL makes
// the other wait for the session's row lock, SQLite for the write lock
// (every transaction begins IMMEDIATE). The loser then sees the token as
// rotated and takes the grace path below. A rotation racing endSessions
// takes the same session lock, so it either commits first (and its
// successor is revoked with the session) or finds the session ended.
//
// A token rotated less than ReuseGrace ago (two tabs refreshing at once,
// or a response lost on the way) yields the successor that was already
// issued, unsealed with the presented token, so the session neither forks
// nor ends. Presented later, it is a replay: someone holds a copy of an
// old token, so the whole session ends (endSessions) and the request fails.
func (s *Service) Refresh(ctx context.Context, p Presented) (*Tokens, error) {
	t, err := s.refresh(ctx, p)
	switch code := apierr.CodeOf(err); {
	case err == nil:
		s.metrics.Refresh(RefreshRotated)
	case errors.Is(err, errReuseDetected):
		s.metrics.Refresh(RefreshReuseDetected)
	case code == apierr.Internal:
		s.metrics.Refresh(RefreshError)
	default:
		s.metrics.Refresh(RefreshRejected)
	}
	return t, err
}

func (s *Service) refresh(ctx context.Context, p Presented) (*Tokens, error) {
	if p.Token == "" {
		if p.Err != nil {
			return nil, p.Err
		}
		return nil, errRefreshMissing
	}
	var (
		is     Issued
		replay *ent.RefreshToken
	)
	err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		for attempt := 0; attempt < 2; attempt++ {
			rt, err := tokenByValue(ctx, tx.RefreshToken.Query(), p.Token)
			if ent.IsNotFound(err) {
				return errRefreshInvalid
			}
			if err != nil {
				return err
			}
			// Before anything changes: a forged CSRF value must not be
			// able to rotate, nor to trip reuse detection.
			if err := p.checkSession(rt.SessionID); err != nil {
				return err
			}
			now := s.now()
			switch {
			case rt.RevokedAt == nil:
				ok, err := s.rotate(ctx, tx, rt, p.Token, now, &is)
				if err != nil || ok {
					return err
				}
				// Lost the race to a concurrent rotation: look again.
			case s.inGrace(rt, now):
				return s.reissue(ctx, tx, rt, p.Token, now, &is)
			case rt.RevokedReason != nil && *rt.RevokedReason == ReasonRotated:
				replay = rt
				return s.endSessions(ctx, tx, Selection{Session: rt.SessionID}, ReasonReuseDetected)
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
		return nil, errReuseDetected
	}
	return s.HandOut(is)
}

// inGrace reports whether rt was rotated recently enough that presenting
// it again is a concurrent refresh rather than a replay.
func (s *Service) inGrace(rt *ent.RefreshToken, now time.Time) bool {
	return s.set.ReuseGrace > 0 &&
		rt.RevokedReason != nil && *rt.RevokedReason == ReasonRotated &&
		len(rt.SealedSuccessor) > 0 &&
		now.Before(rt.RevokedAt.Add(s.set.ReuseGrace))
}

// checkLive refuses to go on with a session that has reached its
// absolute lifetime or its idle timeout. The client should learn that
// signing in again is the only way on, so this is checked before the
// token's own expiry.
func (s *Service) checkLive(sess *ent.Session, now time.Time) error {
	if !now.Before(s.deadline(sess)) {
		return errSessionExpired
	}
	if s.set.IdleTimeout > 0 && !now.Before(sess.LastSeenAt.Add(s.set.IdleTimeout)) {
		return errSessionIdle
	}
	return nil
}

// touch marks sess seen at now, if it has not ended: the conditional
// UPDATE takes the session's row lock (see Refresh) and reports false
// when the session was revoked meanwhile.
func (s *Service) touch(ctx context.Context, tx *ent.Tx, sess *ent.Session, now time.Time) (bool, error) {
	n, err := tx.Session.Update().
		Where(dbsession.ID(sess.ID), dbsession.RevokedAtIsNil()).
		SetLastSeenAt(now).
		SetExpiresAt(s.deadline(sess)).
		Save(ctx)
	if err != nil {
		return false, fmt.Errorf("touch session: %w", err)
	}
	return n == 1, nil
}

// rotate replaces the live token rt. It reports false when a concurrent
// rotation changed rt first.
func (s *Service) rotate(ctx context.Context, tx *ent.Tx, rt *ent.RefreshToken, raw string, now time.Time, is *Issued) (bool, error) {
	sess := rt.Edges.Session
	if err := s.checkLive(sess, now); err != nil {
		return false, err
	}
	if !now.Before(rt.ExpiresAt) {
		return false, errRefreshInvalid
	}
	live, err := s.touch(ctx, tx, sess, now)
	if err != nil {
		return false, err
	}
	if !live {
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
	if *is, err = s.storeToken(ctx, tx, rt.Edges.User, sess, now, nextID, next, nextHash); err != nil {
		return false, err
	}
	return true, s.audit.Record(ctx, tx, audit.Event{Type: audit.SessionRefreshed, UserID: rt.UserID, SessionID: rt.SessionID})
}

// reissue answers a grace-window refresh with the live successor of rt.
func (s *Service) reissue(ctx context.Context, tx *ent.Tx, rt *ent.RefreshToken, raw string, now time.Time, is *Issued) error {
	cur, curRaw := rt, raw
	for hop := 0; hop < maxGraceHops; hop++ {
		next, err := unsealSuccessor(curRaw, cur.SealedSuccessor)
		if err != nil {
			return errRefreshInvalid
		}
		succ, err := tokenByValue(ctx, tx.RefreshToken.Query(), next)
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
			*is = Issued{user: rt.Edges.User, sessionID: rt.SessionID, refresh: next, expires: succ.ExpiresAt, level: levelOf(rt.Edges.Session)}
			return nil
		}
		if !s.inGrace(succ, now) {
			return errRefreshInvalid
		}
		cur, curRaw = succ, next
	}
	return errRefreshInvalid
}

// Continue gives the session sid of u a new refresh token and revokes
// its others (reason), in the caller's transaction: a password change
// keeps the current session going while every token issued before it
// stops working. A session that has ended, or that was never stored, is
// replaced by a new one.
func (s *Service) Continue(ctx context.Context, tx *ent.Tx, u *ent.User, sid uuid.UUID, reason string) (Issued, error) {
	now := s.now()
	sess, err := tx.Session.Query().Where(dbsession.ID(sid), dbsession.UserID(u.ID)).Only(ctx)
	if ent.IsNotFound(err) {
		return s.Start(ctx, tx, u)
	}
	if err != nil {
		return Issued{}, err
	}
	if sess.RevokedAt != nil || s.checkLive(sess, now) != nil {
		return s.Start(ctx, tx, u)
	}
	live, err := s.touch(ctx, tx, sess, now)
	if err != nil {
		return Issued{}, err
	}
	if !live {
		return s.Start(ctx, tx, u)
	}
	return s.replaceTokens(ctx, tx, u, sess, now, reason)
}

// replaceTokens revokes the live refresh tokens of sess (reason) and
// stores a new one in it: the session goes on, and no token issued before
// now does. A password change and a step-up both do this.
func (s *Service) replaceTokens(ctx context.Context, tx *ent.Tx, u *ent.User, sess *ent.Session, now time.Time, reason string) (Issued, error) {
	if err := tx.RefreshToken.Update().
		Where(refreshtoken.SessionID(sess.ID), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(now).
		SetRevokedReason(reason).
		Exec(ctx); err != nil {
		return Issued{}, fmt.Errorf("revoke session tokens: %w", err)
	}
	raw, hash := token.NewRefreshToken()
	return s.storeToken(ctx, tx, u, sess, now, schema.NewID(), raw, hash)
}
