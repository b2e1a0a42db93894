package account

import (
	"context"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/predicate"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/authn/emailcode"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/mail"
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/validate"
)

// RequestEmailChange starts moving the signed-in user to newEmail, after
// re-checking their password (OWASP ASVS 5.0 V7.5.1; wrong:
// UNAUTHENTICATED, under the sign-in lockout). The answer is the same
// whether or not newEmail belongs to another account: the new address
// receives a link and code, or, when taken, a mail saying so; the current
// address receives a notice (V6.3.7). Nothing changes until the new
// address confirms (ConfirmEmailChange). Like a password change it needs
// a session that proved who holds it within REAUTH_MAX_AGE
// (REAUTHENTICATION_REQUIRED).
func (s *Service) RequestEmailChange(ctx context.Context, newEmail, currentPassword string) (bool, error) {
	if !s.flowsOn() {
		return false, errFlowsOff
	}
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return false, err
	}
	if err := v.RequireRecentAuth(s.now(), s.reauth); err != nil {
		return false, err
	}
	addr, why := validate.Email(newEmail)
	if why != "" {
		return false, apierr.Invalid(map[string]string{"newEmail": why})
	}
	u, err := s.db.User.Get(ctx, v.UserID)
	if ent.IsNotFound(err) {
		return false, errAccountGone
	}
	if err != nil {
		return false, err
	}
	if len(currentPassword) > validate.MaxSignInPasswordBytes {
		return false, errWrongPassword
	}
	if err := s.passwords.Check(ctx, u, "", currentPassword); err != nil {
		if apierr.CodeOf(err) == apierr.Unauthenticated {
			return false, errWrongPassword
		}
		return false, err
	}
	if u.Email != nil && *u.Email == addr {
		return false, apierr.Invalid(map[string]string{"newEmail": "is already the account's email address"})
	}
	if err := s.mayMail(ctx, addr); err != nil {
		return false, err
	}
	taken, err := s.db.User.Query().Where(user.Email(addr)).Exist(ctx)
	if err != nil {
		return false, err
	}
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		if taken {
			// Void any earlier request, as a real one would.
			if err := s.codes.Void(ctx, tx, u.ID, emailcode.EmailChange); err != nil {
				return err
			}
			if err := s.notice(ctx, tx, mail.KindAccountExists, addr, mail.Data{ActionURL: s.resetURL()}); err != nil {
				return err
			}
		} else if err := s.issueAndQueue(ctx, tx, u, emailcode.EmailChange, addr, s.flows.EmailTokenTTL); err != nil {
			return err
		}
		if u.Email == nil {
			return nil
		}
		return s.notice(ctx, tx, mail.KindEmailChangeNotice, *u.Email,
			mail.Data{Name: greeting(u), OldEmail: *u.Email, NewEmail: addr, ActionURL: s.resetURL()})
	})
	return err == nil, err
}

// ConfirmEmailChange makes the new address of an email change the
// account's, verified, proven by the link's token (no sign-in needed: it
// names its account) or by the code of its mail (the signed-in user's
// request). Should another account have taken the address meanwhile, the
// unique index decides: CONFLICT, and the request stays unspent.
func (s *Service) ConfirmEmailChange(ctx context.Context, token, code *string) (*ent.User, error) {
	if !s.flowsOn() {
		return nil, errFlowsOff
	}
	p := emailcode.Proof{Kind: emailcode.EmailChange}
	switch {
	case token != nil && *token != "":
		p.Token = *token
	case code != nil && *code != "":
		v, err := policy.ViewerFrom(ctx)
		if err != nil {
			return nil, err
		}
		p.Code, p.UserID = *code, v.UserID
	default:
		return nil, apierr.Invalid(map[string]string{"token": "give the token of the link, or the code of the mail"})
	}
	var out *ent.User
	err := s.codes.Redeem(ctx, p, func(tx *ent.Tx, t *ent.EmailToken) error {
		u, err := tx.User.Query().Where(user.ID(t.UserID), predicate.User(database.ForUpdate)).Unique(false).Only(ctx)
		if ent.IsNotFound(err) {
			return errProof(p)
		}
		if err != nil {
			return err
		}
		if out, err = tx.User.UpdateOne(u).SetEmail(t.Email).SetEmailVerifiedAt(s.now()).Save(ctx); err != nil {
			return conflictOr(err)
		}
		return s.audit.Record(ctx, tx, audit.Event{Type: audit.UserEmailChanged, UserID: u.ID, Details: map[string]any{"verified": true}})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
