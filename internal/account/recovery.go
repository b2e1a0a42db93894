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
	"github.com/gqlauth/gqlauth/internal/session"
	"github.com/gqlauth/gqlauth/internal/validate"
)

// RequestPasswordReset mails a reset link and code to the account of
// email, and answers true whether or not there is one: the answer, and
// the work before it, are the same for an unknown address (which is sent
// nothing, or with PASSWORD_RESET_NOTIFY_UNKNOWN a notice), so that it
// cannot tell which addresses have accounts. The mail is delivered by
// the outbox worker, after the answer. Throttled per address
// (EMAIL_RATE_LIMIT, counted for every address alike) and per client
// (RATE_LIMIT_AUTH, as a credential field).
func (s *Service) RequestPasswordReset(ctx context.Context, email string) (bool, error) {
	if !s.flowsOn() {
		return false, errFlowsOff
	}
	addr, why := validate.Email(email)
	if why != "" {
		return false, apierr.Invalid(map[string]string{"email": why})
	}
	if err := s.mayMail(ctx, addr); err != nil {
		return false, err
	}
	u, err := s.db.User.Query().Where(user.Email(addr)).Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return false, err
	}
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		if err := s.queueReset(ctx, tx, u, addr); err != nil {
			return err
		}
		// Recorded for an unknown address too (without the address), so
		// that both answers cost the same writes.
		ev := audit.Event{Type: audit.UserPasswordResetReq, Details: map[string]any{"reason": "unknown_account"}}
		if u != nil {
			ev.UserID, ev.Details = u.ID, nil
		}
		return s.audit.Record(ctx, tx, ev)
	})
	return err == nil, err
}

// queueReset queues the reset mail of u's account at addr, or for an
// unknown address (u nil) the notice of PASSWORD_RESET_NOTIFY_UNKNOWN, or
// else a decoy.
func (s *Service) queueReset(ctx context.Context, tx *ent.Tx, u *ent.User, addr string) error {
	switch {
	case u != nil:
		return s.issueAndQueue(ctx, tx, u, emailcode.PasswordReset, addr, s.flows.PasswordResetTTL)
	case s.flows.NotifyUnknown:
		return s.notice(ctx, tx, mail.KindPasswordResetUnknown, addr, mail.Data{ActionURL: s.resetURL()})
	}
	// The same work as for an account, undone before the commit: the
	// statements of a request, a mail rendered, written and deleted,
	// and a commit of as many changed pages, for nobody.
	is, err := s.codes.Decoy(ctx, tx, emailcode.PasswordReset, s.flows.PasswordResetTTL)
	if err != nil {
		return err
	}
	d := mail.Data{Code: is.Code, ExpiresIn: s.flows.PasswordResetTTL, Link: s.link(ActionResetPassword, is.Token)}
	id, err := s.mailer.Queue(ctx, tx, mail.KindPasswordReset, addr, d)
	if err != nil {
		return err
	}
	return tx.MailMessage.DeleteOneID(id).Exec(ctx)
}

// ResetPassword sets a new password for the account of a reset request,
// proven by the link's token or by the address and the code of its mail.
// The new password must pass the policy. In one transaction it stores
// the new hash, marks the address verified (the person read the mail),
// voids the account's other mailed links and codes, ends every session
// of the account and denies its access tokens (reason password_reset),
// queues a "your password was changed" notice, and starts a new session,
// whose tokens it returns. Failed sign-ins are forgotten.
//
// A reset never bypasses a second factor (OWASP ASVS 5.0 V6.4.3): before
// anything changes the SecondFactor hook is asked, and the new session
// starts at AAL1 (session.StartAfterReset), so a user with a verified
// factor must still verifyMfa before anything but the @aal1 fields.
func (s *Service) ResetPassword(ctx context.Context, token, email, code *string, newPassword string) (*session.Tokens, error) {
	if !s.flowsOn() {
		return nil, errFlowsOff
	}
	p, err := proof(emailcode.PasswordReset, token, email, code)
	if err != nil {
		return nil, err
	}
	var (
		is session.Issued
		u  *ent.User
	)
	err = s.codes.Redeem(ctx, p, func(tx *ent.Tx, t *ent.EmailToken) error {
		u, err = tx.User.Query().Where(user.ID(t.UserID), predicate.User(database.ForUpdate)).Unique(false).Only(ctx)
		if ent.IsNotFound(err) {
			return errProof(p)
		}
		if err != nil {
			return err
		}
		if u.Email == nil || *u.Email != t.Email {
			return errProof(p) // the address changed since the mail
		}
		errs := validate.Errors{}
		if err := s.checkPassword(ctx, errs, "newPassword", newPassword, u.Email, u.Username); err != nil {
			return err
		}
		if err := errs.Err(); err != nil {
			return err
		}
		if s.secondFactor != nil {
			if err := s.secondFactor.CheckReset(ctx, u); err != nil {
				return err
			}
		}
		hash, err := s.passwords.Hash(newPassword)
		if err != nil {
			return err
		}
		now := s.now()
		upd := tx.User.UpdateOne(u).SetPasswordHash(hash)
		var events []audit.Event
		if u.EmailVerifiedAt == nil {
			upd.SetEmailVerifiedAt(now)
			events = append(events, audit.Event{Type: audit.UserEmailVerified, UserID: u.ID, Details: map[string]any{"method": "password_reset"}})
		}
		if u, err = upd.Save(ctx); err != nil {
			return err
		}
		// Every session and access token of the account ends; the new
		// session below starts after now, so its token passes.
		if err := s.sessions.End(ctx, tx, session.Selection{User: u.ID, UserTokensBefore: now}, session.ReasonPasswordReset); err != nil {
			return err
		}
		if err := s.passwordChanged(ctx, tx, u); err != nil {
			return err
		}
		// A reset proves the address, not a second factor: the new
		// session is AAL1, so a user with a verified factor must still
		// step up with verifyMfa (ASVS 6.4.3).
		if is, err = s.sessions.StartAfterReset(ctx, tx, u); err != nil {
			return err
		}
		events = append(events, audit.Event{Type: audit.UserPasswordReset, UserID: u.ID, SessionID: is.SessionID()})
		return s.audit.Record(ctx, tx, events...)
	})
	if err != nil {
		return nil, err
	}
	s.passwords.Unlock(ctx, u)
	return s.sessions.HandOut(is)
}

// passwordChanged is what every password change does besides the hash,
// in its transaction: the account's mailed links and codes are voided (a
// reset mail asked for before must not undo the change), and a notice
// goes to its address.
func (s *Service) passwordChanged(ctx context.Context, tx *ent.Tx, u *ent.User) error {
	if s.codes == nil {
		return nil
	}
	if err := s.codes.Void(ctx, tx, u.ID); err != nil {
		return err
	}
	if !s.flowsOn() || u.Email == nil {
		return nil
	}
	return s.notice(ctx, tx, mail.KindPasswordChanged, *u.Email, mail.Data{Name: greeting(u), ActionURL: s.resetURL()})
}
