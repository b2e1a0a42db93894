package authn

import (
	"context"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
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

// SignIns signs people in with a password.
type SignIns struct {
	db        *ent.Client
	passwords *Passwords
	sessions  *session.Service
	metrics   Recorder
}

// NewSignIns returns the password sign-in; metrics nil counts nothing.
func NewSignIns(db *ent.Client, passwords *Passwords, sessions *session.Service, metrics Recorder) *SignIns {
	if metrics == nil {
		metrics = nopRecorder{}
	}
	return &SignIns{db: db, passwords: passwords, sessions: sessions, metrics: metrics}
}

type nopRecorder struct{}

func (nopRecorder) SignIn(string) {}

// SignIn checks a password and starts a new session. A wrong password and
// an unknown account get the same answer after the same work. The attempt
// is counted by the Recorder.
func (s *SignIns) SignIn(ctx context.Context, in SignInInput) (*session.Tokens, error) {
	t, err := s.signIn(ctx, in)
	switch code := apierr.CodeOf(err); {
	case err == nil:
		s.metrics.SignIn(SignInSuccess)
	case code == apierr.Unauthenticated:
		s.metrics.SignIn(SignInFailure)
	case code == apierr.BadUserInput:
		s.metrics.SignIn(SignInInvalid)
	case code == apierr.TooManyRequests:
		s.metrics.SignIn(SignInThrottled)
	default:
		s.metrics.SignIn(SignInError)
	}
	return t, err
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
	q := s.db.User.Query()
	if id.Email != "" {
		q.Where(user.Email(id.Email))
	} else {
		q.Where(user.UsernameKey(id.UsernameKey))
	}
	u, err := q.Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	if err := s.passwords.Check(ctx, u, id.Key(), in.Password); err != nil {
		return nil, err
	}
	var is session.Issued
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		is, err = s.sessions.Start(ctx, tx, u)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.sessions.HandOut(is)
}
