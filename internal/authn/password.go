package authn

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apierr"
)

// Passwords hashes passwords and checks them against an account, under
// the sign-in lockout: the password credential, shared by sign-in and the
// current-password check of a password change.
type Passwords struct {
	cost    int
	lockout Lockout
	log     *slog.Logger
	// dummyHash is compared against when an account does not exist, so
	// that a check takes as long for an unknown account as for a known one.
	dummyHash []byte
	checks    atomic.Int64
}

// NewPasswords returns the password credential: bcrypt at cost, and
// lockout (nil: none) counting failures per account.
func NewPasswords(cost int, lockout Lockout, log *slog.Logger) (*Passwords, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("gqlauth dummy password"), cost)
	if err != nil {
		return nil, fmt.Errorf("make dummy hash: %w", err)
	}
	return &Passwords{cost: cost, lockout: lockout, log: log, dummyHash: dummy}, nil
}

// Hash returns the bcrypt hash of a new password.
func (p *Passwords) Hash(password string) ([]byte, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), p.cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// Check decides an attempt to prove u's password (u nil: no such
// account; identifier then names the lockout counter). A locked account is
// refused before bcrypt runs, even with the right password; an unknown
// account costs a comparison with a dummy hash so that it takes as long as
// a known one; a success resets the count. A wrong password or unknown
// account is UNAUTHENTICATED.
func (p *Passwords) Check(ctx context.Context, u *ent.User, identifier, password string) error {
	key := lockoutKey(u, identifier)
	if p.lockout != nil {
		retry, err := p.lockout.Begin(ctx, key)
		if err != nil {
			return apierr.Wrap(apierr.ServiceUnavailable, "sign-in is unavailable; try again later", err)
		}
		if retry > 0 {
			return errLocked(retry)
		}
	}
	hash := p.dummyHash
	if u != nil {
		hash = []byte(u.PasswordHash)
	}
	p.checks.Add(1)
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if err != nil || u == nil {
		return apierr.ErrUnauthenticated
	}
	if p.lockout != nil {
		if err := p.lockout.Reset(ctx, key); err != nil {
			p.log.WarnContext(ctx, "reset sign-in failures", "error", err, "user_id", u.ID)
		}
	}
	return nil
}

// Checks is how many passwords have been compared with a bcrypt hash
// (real or dummy) since start. The lockout tests use it to prove that
// refused attempts never reach bcrypt.
func (p *Passwords) Checks() int64 { return p.checks.Load() }
