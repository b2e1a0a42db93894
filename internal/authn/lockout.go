package authn

import (
	"context"
	"time"

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
