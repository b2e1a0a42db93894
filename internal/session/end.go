package session

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/deniedtoken"
	"github.com/gqlauth/gqlauth/ent/predicate"
	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	dbsession "github.com/gqlauth/gqlauth/ent/session"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/token"
)

// Selection names the sessions endSessions ends, and the access tokens it
// denies besides theirs.
type Selection struct {
	// Session is one session to end; it is denied even when it has
	// already ended (a logout with an access token that outlived it).
	Session uuid.UUID
	// User, when Session is uuid.Nil, ends every live session of the user
	// but Except.
	User   uuid.UUID
	Except uuid.UUID
	// UserTokensBefore, when not zero, also denies every access token of
	// User issued before it (a global logout, a password change, a
	// deleted account), including those of sessions started meanwhile.
	UserTokensBefore time.Time
	// TokenID, when not "", also denies that one access token (the
	// caller's, whose session may live on).
	TokenID string

	// By is who ends them, for the audit trail: a user id, or "" for
	// the sessions' own user (audit.Event.Actor).
	By string
	// Scope is the logout scope that ended them, if a logout did.
	Scope LogoutScope
}

// endSessions ends the sessions sel names, in the caller's transaction:
// it locks their rows, denies their access tokens, and revokes them and
// their refresh tokens with reason.
//
// Every way a session ends comes here, for one ordering rule: the denials
// are written before the caller commits. When the deny list is down, the
// transaction then rolls back with nothing revoked and the request can be
// retried, finding the sessions again; the other order would revoke the
// refresh tokens, fail, and leave a retry nothing to end while the access
// tokens kept working. The session rows are locked first (on PostgreSQL;
// SQLite runs one writer at a time), so a rotation of one of them either
// committed before (its successor is revoked here with the rest) or waits
// and then finds the session ended (see Refresh): no pass can miss a
// token inserted concurrently.
func (s *Service) endSessions(ctx context.Context, tx *ent.Tx, sel Selection, reason string) error {
	q := tx.Session.Query().Where(dbsession.RevokedAtIsNil(), predicate.Session(database.ForUpdate))
	if sel.Session != uuid.Nil {
		q.Where(dbsession.ID(sel.Session))
	} else {
		q.Where(dbsession.UserID(sel.User))
		if sel.Except != uuid.Nil {
			q.Where(dbsession.IDNEQ(sel.Except))
		}
	}
	locked, err := q.Unique(false).Select(dbsession.FieldID, dbsession.FieldUserID).All(ctx)
	if err != nil {
		return fmt.Errorf("lock sessions: %w", err)
	}
	ids := make([]uuid.UUID, len(locked))
	for i, sess := range locked {
		ids[i] = sess.ID
	}

	// The denials go to the database in this transaction (the source of
	// truth: the sessions' revoked_at below, and denied_tokens), then to
	// the deny list (Redis, its index), before the commit.
	byUser := map[uuid.UUID][]string{}
	for _, sess := range locked {
		byUser[sess.UserID] = append(byUser[sess.UserID], sess.ID.String())
	}
	if sel.Session != uuid.Nil && len(ids) == 0 {
		// An ended session: deny it again (its revoked_at already says so).
		owner := sel.User
		if owner == uuid.Nil {
			sess, err := tx.Session.Query().Where(dbsession.ID(sel.Session)).Select(dbsession.FieldUserID).Only(ctx)
			if err != nil && !ent.IsNotFound(err) {
				return fmt.Errorf("read session: %w", err)
			}
			if sess != nil {
				owner = sess.UserID
			}
		}
		if owner != uuid.Nil {
			byUser[owner] = append(byUser[owner], sel.Session.String())
		}
	}
	if err := s.recordDenials(ctx, tx, sel); err != nil {
		return err
	}
	deny := func(ctx context.Context) error {
		for uid, sids := range byUser {
			if err := s.deny.DenySessions(ctx, uid.String(), sids...); err != nil {
				return err
			}
		}
		if !sel.UserTokensBefore.IsZero() {
			if err := s.deny.DenyUserBefore(ctx, sel.User.String(), sel.UserTokensBefore); err != nil {
				return err
			}
		}
		if sel.TokenID != "" {
			return s.deny.DenyToken(ctx, sel.User.String(), sel.TokenID)
		}
		return nil
	}
	if err := deny(ctx); err != nil {
		return errDenyUnavailable(err)
	}
	// Once more after the commit (idempotent): should Redis lose the
	// first writes before the commit, a rebuild running meanwhile could
	// not have read them from the database yet.
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if err := next.Commit(ctx, tx); err != nil {
				return err
			}
			if err := deny(context.WithoutCancel(ctx)); err != nil {
				s.log.Warn("deny list: rewrite after commit failed; the next rebuild restores it", "error", err)
			}
			return nil
		})
	})

	if len(ids) == 0 {
		return nil
	}
	now := s.now()
	if err := tx.Session.Update().Where(dbsession.IDIn(ids...)).
		SetRevokedAt(now).SetRevokedReason(reason).Exec(ctx); err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	if err := tx.RefreshToken.Update().Where(refreshtoken.SessionIDIn(ids...), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(now).SetRevokedReason(reason).Exec(ctx); err != nil {
		return fmt.Errorf("revoke refresh tokens: %w", err)
	}
	return s.audit.Record(ctx, tx, endedEvents(locked, sel, reason)...)
}

// recordDenials writes the denials sel makes besides its sessions' (a
// token, a user's not-before) to denied_tokens, in tx; they live one
// access-token lifetime (with the verifier's leeway).
func (s *Service) recordDenials(ctx context.Context, tx *ent.Tx, sel Selection) error {
	expires := s.now().Add(s.tokens.TTL() + token.Leeway)
	var rows []*ent.DeniedTokenCreate
	if sel.TokenID != "" {
		rows = append(rows, tx.DeniedToken.Create().SetUserID(sel.User).SetJti(sel.TokenID).SetExpiresAt(expires))
	}
	if !sel.UserTokensBefore.IsZero() {
		rows = append(rows, tx.DeniedToken.Create().SetUserID(sel.User).SetIssuedBefore(sel.UserTokensBefore).SetExpiresAt(expires))
	}
	if len(rows) == 0 {
		return nil
	}
	if err := tx.DeniedToken.CreateBulk(rows...).Exec(ctx); err != nil {
		return fmt.Errorf("record denials: %w", err)
	}
	return nil
}

// LiveDenials implements token.DenialSource: the denials the database
// holds whose tokens may still be valid, those made since since (one
// access-token lifetime ago): the sessions revoked since, and the
// denied_tokens rows not yet expired.
func (s *Service) LiveDenials(ctx context.Context, since time.Time) ([]token.Denial, error) {
	sessions, err := s.db.Session.Query().Where(dbsession.RevokedAtGT(since)).
		Select(dbsession.FieldID, dbsession.FieldUserID).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read revoked sessions: %w", err)
	}
	denied, err := s.db.DeniedToken.Query().Where(deniedtoken.ExpiresAtGT(s.now())).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read denied tokens: %w", err)
	}
	out := make([]token.Denial, 0, len(sessions)+len(denied))
	for _, sess := range sessions {
		out = append(out, token.Denial{UserID: sess.UserID.String(), SessionID: sess.ID.String()})
	}
	for _, d := range denied {
		den := token.Denial{UserID: d.UserID.String(), TokenID: d.Jti}
		if d.IssuedBefore != nil {
			den.Before = *d.IssuedBefore
		}
		out = append(out, den)
	}
	return out, nil
}

// endedEvents are the audit events of the sessions endSessions ended:
// one session.revoked each (session.reuse_detected for a replayed token),
// with the reason, the logout scope and who ended them.
func endedEvents(ended []*ent.Session, sel Selection, reason string) []audit.Event {
	typ, actor := audit.SessionRevoked, sel.By
	if reason == ReasonReuseDetected {
		typ, actor = audit.SessionReuseDetected, audit.ActorSystem
	}
	details := map[string]any{"reason": reason}
	if sel.Scope != "" {
		details["scope"] = string(sel.Scope)
	}
	events := make([]audit.Event, len(ended))
	for i, sess := range ended {
		events[i] = audit.Event{Type: typ, Actor: actor, UserID: sess.UserID, SessionID: sess.ID, Details: details}
	}
	return events
}

// End ends the sessions sel names in the caller's transaction (see
// endSessions), for account changes that end sessions: a password change,
// a deleted account.
func (s *Service) End(ctx context.Context, tx *ent.Tx, sel Selection, reason string) error {
	return s.endSessions(ctx, tx, sel, reason)
}

// errDenyUnavailable is the answer when the deny list cannot be written.
func errDenyUnavailable(err error) error {
	return apierr.Wrap(apierr.ServiceUnavailable, "the session store is unavailable; try again shortly", err)
}

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
// token or by a refresh token. It reports whether the caller's own session
// ended (and so its cookies should be cleared).
func (s *Service) Logout(ctx context.Context, scope LogoutScope, p Presented) (bool, error) {
	v, verr := policy.OptionalViewer(ctx)
	if verr != nil && !apierr.IsUnauthenticated(verr) {
		return false, verr // the deny list is down: fail closed
	}
	var sel Selection
	switch {
	case v != nil:
		sel.User, sel.Session = v.UserID, v.SessionID
		if v.Claims != nil { // nil Claims: a WithViewer viewer, no token
			sel.TokenID = v.Claims.ID
		}
	case p.Token != "":
		rt, err := tokenByValue(ctx, s.db.RefreshToken.Query(), p.Token)
		if ent.IsNotFound(err) {
			return false, errRefreshInvalid
		}
		if err != nil {
			return false, err
		}
		if err := p.checkSession(rt.SessionID); err != nil {
			return false, err
		}
		if rt.RevokedAt != nil {
			return false, errRefreshInvalid
		}
		sel.User, sel.Session = rt.UserID, rt.SessionID
	case p.Err != nil:
		return false, p.Err
	case verr != nil:
		return false, verr
	default:
		return false, apierr.New(apierr.Unauthenticated, "logout needs an access token or a refresh token")
	}
	own := sel.Session
	sel.Scope = scope
	switch scope {
	case LogoutOthers:
		// The caller's own session and access token live on.
		sel = Selection{User: sel.User, Except: own, Scope: scope}
	case LogoutGlobal:
		// Every live session, and a not-before for the user's access
		// tokens; the caller's token entry catches one issued within the
		// very second of the logout.
		sel.Session = uuid.Nil
		sel.UserTokensBefore = s.now()
	}
	err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		return s.endSessions(ctx, tx, sel, ReasonLogout)
	})
	return err == nil && scope != LogoutOthers, err
}

// Revoke ends the session of one refresh token, named by its value (the
// argument, else the refresh cookie) or by its id. The caller must own it
// or be an admin; anyone else is told it does not exist. It reports
// whether that was the caller's own session.
func (s *Service) Revoke(ctx context.Context, p Presented, id *uuid.UUID) (bool, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return false, err
	}
	var rt *ent.RefreshToken
	switch {
	case p.Token != "" && !p.FromCookie():
		rt, err = tokenByValue(ctx, s.db.RefreshToken.Query(), p.Token)
	case id != nil:
		p = Presented{}
		rt, err = s.db.RefreshToken.Get(ctx, *id)
	case p.Err != nil:
		return false, p.Err
	case p.Token != "":
		rt, err = tokenByValue(ctx, s.db.RefreshToken.Query(), p.Token)
	default:
		return false, apierr.Invalid(map[string]string{"refreshToken": "give a refresh token or the id of one"})
	}
	if ent.IsNotFound(err) || (err == nil && !v.CanAccessUser(rt.UserID)) {
		return false, errRefreshNotFound
	}
	if err != nil {
		return false, err
	}
	if err := p.checkSession(rt.SessionID); err != nil {
		return false, err
	}
	if rt.RevokedAt != nil || !s.now().Before(rt.ExpiresAt) {
		return false, apierr.New(apierr.BadUserInput, "the refresh token is already revoked or expired")
	}
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		return s.endSessions(ctx, tx, Selection{Session: rt.SessionID, By: audit.User(v.UserID)}, ReasonRevoked)
	})
	return err == nil && rt.SessionID == v.SessionID, err
}

// RevokeSession ends the session id: the caller's own, or anyone's for an
// admin; anyone else is told it does not exist. Its access tokens are
// denied at once. It reports whether that was the caller's own session.
func (s *Service) RevokeSession(ctx context.Context, id uuid.UUID) (bool, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return false, err
	}
	sess, err := s.db.Session.Get(ctx, id)
	if ent.IsNotFound(err) || (err == nil && !v.CanAccessUser(sess.UserID)) {
		return false, errSessionNotFound
	}
	if err != nil {
		return false, err
	}
	if sess.RevokedAt != nil {
		return false, apierr.New(apierr.BadUserInput, "the session has already ended")
	}
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		return s.endSessions(ctx, tx, Selection{Session: id, By: audit.User(v.UserID)}, ReasonRevoked)
	})
	return err == nil && id == v.SessionID, err
}
