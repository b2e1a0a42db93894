package authn

import (
	"context"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/session"
	"github.com/gqlauth/gqlauth/internal/validate"
)

// Recorder counts sign-ins, for metrics; *metrics.Metrics implements it.
type Recorder interface {
	// SignIn records a sign-in attempt: one of the SignIn* results.
	SignIn(result string)
}

// Results passed to Recorder.SignIn.
const (
	SignInSuccess   = "success"   // credentials matched; a session started
	SignInFailure   = "failure"   // unknown account or wrong password
	SignInInvalid   = "invalid"   // the input was rejected before any check
	SignInThrottled = "throttled" // too many attempts; refused before any check
	SignInError     = "error"     // the server failed (database, …)
)

// SignInInput is the signIn mutation's input (bound by gqlgen).
type SignInInput struct {
	Email    *string
	Username *string
	Password string
}

// EmailVerification is what sign-in asks of the email flows
// (internal/account implements it).
type EmailVerification interface {
	// Required reports whether an account with an unverified email
	// address may not sign in (EMAIL_VERIFICATION=required).
	Required() bool
	// Resend mails u a fresh verification link and code, within the
	// per-address limit (over it, it sends nothing).
	Resend(ctx context.Context, u *ent.User) error
}

// errEmailNotVerified refuses the sign-in of an account whose address is
// not verified yet, when verification is required. It comes after the
// password check, so it tells only the account's owner that it exists.
var errEmailNotVerified = apierr.New(apierr.EmailNotVerified,
	"the email address is not verified yet: open the link or enter the code of the mail just sent to it")

// SignIns signs people in with a password.
type SignIns struct {
	db        *ent.Client
	passwords *Passwords
	sessions  *session.Service
	metrics   Recorder
	audit     *audit.Trail
	// Verification, when set, decides whether an unverified account may
	// sign in (EMAIL_VERIFICATION).
	Verification EmailVerification
}

// NewSignIns returns the password sign-in; metrics nil counts nothing,
// trail nil records nothing.
func NewSignIns(db *ent.Client, passwords *Passwords, sessions *session.Service, metrics Recorder, trail *audit.Trail) *SignIns {
	if metrics == nil {
		metrics = nopRecorder{}
	}
	return &SignIns{db: db, passwords: passwords, sessions: sessions, metrics: metrics, audit: trail}
}

type nopRecorder struct{}

func (nopRecorder) SignIn(string) {}

// SignIn checks a password and starts a new session. A wrong password and
// an unknown account get the same answer after the same work. The attempt
// is counted by the Recorder.
func (s *SignIns) SignIn(ctx context.Context, in SignInInput) (*session.Tokens, error) {
	t, err := s.signIn(ctx, in)
	countSignIn(s.metrics, err)
	return t, err
}

// countSignIn records the outcome of a sign-in attempt (a password or a
// passkey) that ended with err.
func countSignIn(r Recorder, err error) {
	switch code := apierr.CodeOf(err); {
	case err == nil:
		r.SignIn(SignInSuccess)
	case code == apierr.Unauthenticated:
		r.SignIn(SignInFailure)
	case code == apierr.BadUserInput:
		r.SignIn(SignInInvalid)
	case code == apierr.TooManyRequests:
		r.SignIn(SignInThrottled)
	default:
		r.SignIn(SignInError)
	}
}

// findAccount is the account a sign-in's identifier names; nil when
// there is none.
func findAccount(ctx context.Context, db *ent.Client, id validate.Identifier) (*ent.User, error) {
	q := db.User.Query()
	if id.Email != "" {
		q.Where(user.Email(id.Email))
	} else {
		q.Where(user.UsernameKey(id.UsernameKey))
	}
	u, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return u, err
}

func (s *SignIns) signIn(ctx context.Context, in SignInInput) (*session.Tokens, error) {
	errs := validate.Errors{}
	id := validate.SignInIdentifier(errs, in.Email, in.Username)
	if why := validate.SignInPassword(in.Password); why != "" {
		errs.Add("password", why)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	u, err := findAccount(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if err := s.passwords.Check(ctx, u, id.Key(), in.Password); err != nil {
		if e, ok := failedSignIn(u, err); ok {
			s.audit.RecordAlone(ctx, e)
		}
		return nil, err
	}
	if s.Verification != nil && s.Verification.Required() && u.Email != nil && u.EmailVerifiedAt == nil {
		if err := s.Verification.Resend(ctx, u); err != nil {
			return nil, err
		}
		return nil, errEmailNotVerified
	}
	// A hash of an older form, a lower BCRYPT_COST or another pepper is
	// replaced now that the password is known.
	upgraded, upgrade, err := s.passwords.Upgrade(u.PasswordHash, in.Password)
	if err != nil {
		return nil, err
	}
	var is session.Issued
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		if upgrade {
			// Unless a concurrent change got there first.
			if _, err := tx.User.Update().Where(user.ID(u.ID), user.PasswordHash(u.PasswordHash)).
				SetPasswordHash(upgraded).Save(ctx); err != nil {
				return err
			}
		}
		if is, err = s.sessions.Start(ctx, tx, u); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Event{Type: audit.UserSignedIn, UserID: u.ID, SessionID: is.SessionID(),
			Details: map[string]any{"method": "password"}})
	})
	if err != nil {
		return nil, err
	}
	return s.sessions.HandOut(is)
}

// failedSignIn is the audit event of a refused password:
// user.locked_out when the lockout refused it before the check, else
// user.sign_in_failed; none when the server failed. u is nil for an
// unknown account; the identifier typed is not recorded (people type
// passwords into it).
func failedSignIn(u *ent.User, err error) (audit.Event, bool) {
	e := audit.Event{Type: audit.UserSignInFailed, Details: map[string]any{"reason": "wrong_password"}}
	switch apierr.CodeOf(err) {
	case apierr.TooManyRequests:
		e.Type, e.Details = audit.UserLockedOut, nil
	case apierr.Unauthenticated:
		if u == nil {
			e.Details["reason"] = "unknown_account"
		}
	default:
		return e, false
	}
	if u != nil {
		e.UserID = u.ID
	}
	return e, true
}
