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
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/validate"
)

// queueVerification issues a verification request for u's address and
// queues its mail, in tx.
func (s *Service) queueVerification(ctx context.Context, tx *ent.Tx, u *ent.User) error {
	return s.issueAndQueue(ctx, tx, u, emailcode.VerifyEmail, *u.Email, s.flows.EmailTokenTTL)
}

// SendVerificationEmail mails the signed-in user a fresh verification
// link and code for their current address (voiding the earlier ones).
// An address already verified is sent nothing; an account without one is
// BAD_USER_INPUT; past EMAIL_RATE_LIMIT it is TOO_MANY_REQUESTS.
func (s *Service) SendVerificationEmail(ctx context.Context) (bool, error) {
	if !s.flowsOn() {
		return false, errFlowsOff
	}
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return false, err
	}
	u, err := s.db.User.Get(ctx, v.UserID)
	if ent.IsNotFound(err) {
		return false, errAccountGone
	}
	if err != nil {
		return false, err
	}
	if u.Email == nil {
		return false, apierr.New(apierr.BadUserInput, "the account has no email address to verify")
	}
	if u.EmailVerifiedAt != nil {
		return true, nil
	}
	if err := s.mayMail(ctx, *u.Email); err != nil {
		return false, err
	}
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		return s.queueVerification(ctx, tx, u)
	})
	return err == nil, err
}

// Resend mails u a fresh verification request when the per-address limit
// allows (sign-in of an unverified account under
// EMAIL_VERIFICATION=required); over the limit it sends nothing, quietly:
// the sign-in is refused either way.
func (s *Service) Resend(ctx context.Context, u *ent.User) error {
	if !s.flowsOn() || u.Email == nil {
		return nil
	}
	if err := s.mayMail(ctx, *u.Email); err != nil {
		if apierr.CodeOf(err) == apierr.TooManyRequests {
			return nil
		}
		return err
	}
	return database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		return s.queueVerification(ctx, tx, u)
	})
}

// VerifyEmail marks an address verified by the link's token, or by the
// address and the code of its mail. The request must be for the
// account's current address (an address changed since is not verified
// by an older mail).
func (s *Service) VerifyEmail(ctx context.Context, token, email, code *string) (bool, error) {
	if !s.flowsOn() {
		return false, errFlowsOff
	}
	p, err := proof(emailcode.VerifyEmail, token, email, code)
	if err != nil {
		return false, err
	}
	err = s.codes.Redeem(ctx, p, func(tx *ent.Tx, t *ent.EmailToken) error {
		n, err := tx.User.Update().
			Where(user.ID(t.UserID), user.Email(t.Email), predicate.User(database.ForUpdate)).
			SetEmailVerifiedAt(s.now()).
			Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return errProof(p)
		}
		return s.audit.Record(ctx, tx, audit.Event{Type: audit.UserEmailVerified, UserID: t.UserID})
	})
	return err == nil, err
}

// proof turns the arguments of verifyEmail and resetPassword into a
// Proof: the token, or the email (normalised as at sign-up) and the code.
func proof(kind emailcode.Kind, token, email, code *string) (emailcode.Proof, error) {
	p := emailcode.Proof{Kind: kind}
	switch {
	case token != nil && *token != "":
		p.Token = *token
	case code != nil && *code != "" && email != nil:
		addr, why := validate.Email(*email)
		if why != "" {
			return p, apierr.Invalid(map[string]string{"email": why})
		}
		p.Email, p.Code = addr, *code
	case code != nil && *code != "":
		return p, apierr.Invalid(map[string]string{"email": "is required with a code"})
	default:
		return p, apierr.Invalid(map[string]string{"token": "give the token of the link, or the email and the code of the mail"})
	}
	return p, nil
}

// errProof is the answer to a proof whose request no longer fits its
// account (the address changed since): the same as a wrong one.
func errProof(p emailcode.Proof) error {
	field := "code"
	if p.Token != "" {
		field = "token"
	}
	return &apierr.Error{Code: apierr.BadUserInput, Message: "the " + field + " is wrong or has expired",
		Fields: map[string]string{field: "is wrong or has expired"}}
}
