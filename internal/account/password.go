package account

import (
	"context"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/session"
	"github.com/gqlauth/gqlauth/internal/validate"
)

// ChangePassword replaces the signed-in user's password after checking
// the current one (wrong: UNAUTHENTICATED) and the new one against the
// password policy, in a session that proved who holds it within
// REAUTH_MAX_AGE. Every other session of the user ends (reason
// password_changed), every access token the user holds is denied, every
// mailed link and code of the account is voided, and a notice goes to
// the account's address. The current session goes on under the same session id
// with a new refresh token and a new access token; its old refresh tokens
// stop working (revoked as password_changed, which is not a rotation, so
// presenting one later does not trip reuse detection).
func (s *Service) ChangePassword(ctx context.Context, current, next string) (*session.Tokens, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := v.RequireRecentAuth(s.now(), s.reauth); err != nil {
		return nil, err
	}
	u, err := s.db.User.Get(ctx, v.UserID)
	if ent.IsNotFound(err) {
		return nil, errAccountGone
	}
	if err != nil {
		return nil, err
	}
	// The check shares sign-in's lockout, so that a stolen access token
	// cannot be used to guess the password here instead.
	if len(current) > validate.MaxSignInPasswordBytes {
		return nil, errWrongPassword
	}
	if err := s.passwords.Check(ctx, u, "", current); err != nil {
		if apierr.CodeOf(err) == apierr.Unauthenticated {
			return nil, errWrongPassword
		}
		return nil, err
	}
	errs := validate.Errors{}
	if err := s.checkPassword(ctx, errs, "newPassword", next, u.Email, u.Username); err != nil {
		return nil, err
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if next == current {
		return nil, apierr.Invalid(map[string]string{"newPassword": "must differ from the current password"})
	}
	hash, err := s.passwords.Hash(next)
	if err != nil {
		return nil, err
	}
	// Every access token the user holds was issued before now, so the
	// not-before denies them all; tokens issued within this very second
	// are caught by the session entries (other sessions) and the jti entry
	// (the token of this request). The new access token is issued at or
	// after now and passes.
	sel := session.Selection{User: v.UserID, Except: v.SessionID, UserTokensBefore: s.now()}
	if v.Claims != nil { // nil for a viewer set by WithViewer: no token to deny
		sel.TokenID = v.Claims.ID
	}
	var is session.Issued
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		u, err := tx.User.UpdateOneID(v.UserID).
			Where(user.PasswordHash(u.PasswordHash)). // a concurrent change wins once
			SetPasswordHash(hash).
			Save(ctx)
		if ent.IsNotFound(err) {
			return errWrongPassword
		}
		if err != nil {
			return err
		}
		if err := s.sessions.End(ctx, tx, sel, session.ReasonPasswordChanged); err != nil {
			return err
		}
		if err := s.passwordChanged(ctx, tx, u); err != nil {
			return err
		}
		if is, err = s.sessions.Continue(ctx, tx, u, v.SessionID, session.ReasonPasswordChanged); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Event{Type: audit.UserPasswordChanged, UserID: u.ID, SessionID: is.SessionID()})
	})
	if err != nil {
		return nil, err
	}
	return s.sessions.HandOut(is)
}
