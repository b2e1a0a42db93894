package auth

import (
	"context"
	"errors"

	"github.com/gqlauth/gqlauth/internal/apierr"
)

// Recorder counts what the auth service does, for metrics. It is defined
// here so that the service depends on nothing but these two methods;
// *metrics.Metrics implements it.
type Recorder interface {
	// SignIn records a sign-in attempt: one of the SignIn* results.
	SignIn(result string)
	// Refresh records a refresh attempt: one of the Refresh* results.
	Refresh(result string)
}

// Results passed to Recorder.
const (
	SignInSuccess   = "success"   // credentials matched; a session started
	SignInFailure   = "failure"   // unknown account or wrong password
	SignInInvalid   = "invalid"   // the input was rejected before any check
	SignInThrottled = "throttled" // too many attempts; refused before any check
	SignInError     = "error"     // the server failed (database, …)

	RefreshRotated       = "rotated"        // a new token was handed out (also within the grace window)
	RefreshReuseDetected = "reuse_detected" // a rotated token was replayed; the session was revoked
	RefreshRejected      = "rejected"       // missing, unknown, expired or revoked token
	RefreshError         = "error"          // the server failed
)

// nopRecorder is the Recorder of a service nobody observes.
type nopRecorder struct{}

func (nopRecorder) SignIn(string)  {}
func (nopRecorder) Refresh(string) {}

// SetRecorder makes the service report to r. Call it before serving.
func (s *Service) SetRecorder(r Recorder) {
	if r == nil {
		r = nopRecorder{}
	}
	s.metrics = r
}

// SignIn checks a password and starts a new session. A wrong password and
// an unknown account get the same answer after the same work. The attempt
// is counted by the service's Recorder.
func (s *Service) SignIn(ctx context.Context, in SignInInput) (*Session, error) {
	sess, err := s.signIn(ctx, in)
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
	return sess, err
}

// Refresh rotates a refresh token (see refresh for the rules: rotation,
// grace window, reuse detection). The attempt is counted by the service's
// Recorder.
func (s *Service) Refresh(ctx context.Context, arg *string) (*Session, error) {
	sess, err := s.refresh(ctx, arg)
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
	return sess, err
}
