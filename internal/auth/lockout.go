package auth

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apierr"
)

// Lockout limits password guesses per account (internal/ratelimit.Lockout,
// in Redis or in process). Begin is counted before the password is
// checked, so parallel guesses cannot exceed the limit.
type Lockout interface {
	// Begin counts one attempt on account and returns 0 when it may go
	// ahead, else how long the account stays locked.
	Begin(ctx context.Context, account string) (time.Duration, error)
	// Reset forgets the account's failed attempts after a success.
	Reset(ctx context.Context, account string) error
}

// passwordChecks counts bcrypt comparisons of every Service, for tests
// and metrics (see Service.PasswordChecks).
type passwordChecks struct{ n atomic.Int64 }

// errLocked is the answer to an attempt on a locked account, the same
// whether the account exists or not.
func errLocked(retry time.Duration) error {
	return &apierr.Error{
		Code:       apierr.TooManyRequests,
		Message:    "too many failed sign-in attempts; try again later",
		RetryAfter: retry,
	}
}

// lockoutKey names the failure counter of a sign-in: the account when it
// exists (so its email and username share one counter), else the
// identifier typed, so that unknown accounts lock the same way.
func lockoutKey(u *ent.User, identifier string) string {
	if u != nil {
		return "login:user:" + u.ID.String()
	}
	return "login:name:" + identifier
}

// checkCredentials decides a sign-in attempt on u (nil: no such
// account). A locked account is refused before bcrypt runs, even with the
// right password; an unknown account costs a comparison with a dummy hash
// so that it takes as long as a known one; a success resets the count.
func (s *Service) checkCredentials(ctx context.Context, u *ent.User, identifier, password string) error {
	key := lockoutKey(u, identifier)
	if s.set.Lockout != nil {
		retry, err := s.set.Lockout.Begin(ctx, key)
		if err != nil {
			return apierr.Wrap(apierr.ServiceUnavailable, "sign-in is unavailable; try again later", err)
		}
		if retry > 0 {
			return errLocked(retry)
		}
	}
	hash := s.dummyHash
	if u != nil {
		hash = []byte(u.PasswordHash)
	}
	s.checks.n.Add(1)
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if err != nil || u == nil {
		return apierr.ErrUnauthenticated
	}
	if s.set.Lockout != nil {
		if err := s.set.Lockout.Reset(ctx, key); err != nil {
			s.log.WarnContext(ctx, "reset sign-in failures", "error", err, "user_id", u.ID)
		}
	}
	return nil
}

// PasswordChecks is how many passwords this Service has compared with a
// bcrypt hash (real or dummy) since it started. The lockout tests use it
// to prove that refused attempts never reach bcrypt.
func (s *Service) PasswordChecks() int64 { return s.checks.n.Load() }
