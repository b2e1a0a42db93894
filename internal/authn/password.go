package authn

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/password"
)

// Passwords hashes passwords and checks them against an account, under
// the sign-in lockout: the password credential, shared by sign-in and the
// current-password check of a password change. Hashing is
// internal/password's Hasher (HMAC-SHA-256 pre-hash, then bcrypt).
type Passwords struct {
	hasher  *password.Hasher
	lockout Lockout
	log     *slog.Logger
	checks  atomic.Int64
}

// NewPasswords returns the password credential: hasher's hashes, and
// lockout (nil: none) counting failures per account.
func NewPasswords(hasher *password.Hasher, lockout Lockout, log *slog.Logger) *Passwords {
	return &Passwords{hasher: hasher, lockout: lockout, log: log}
}

// Hash returns the stored form of a new password.
func (p *Passwords) Hash(pw string) (string, error) { return p.hasher.Hash(pw) }

// Check decides an attempt to prove u's password (u nil: no such
// account; identifier then names the lockout counter). A locked account is
// refused before bcrypt runs, even with the right password; an unknown
// account costs a comparison with a dummy hash so that it takes as long as
// a known one; a success resets the count. A wrong password or unknown
// account is UNAUTHENTICATED.
func (p *Passwords) Check(ctx context.Context, u *ent.User, identifier, pw string) error {
	if err := p.Attempt(ctx, u, identifier); err != nil {
		return err
	}
	p.checks.Add(1)
	if u == nil {
		_ = p.hasher.CompareUnknown(pw)
		return apierr.ErrUnauthenticated
	}
	if err := p.hasher.Compare(u.PasswordHash, pw); err != nil {
		if !errors.Is(err, password.ErrMismatch) {
			// A hash made under another PASSWORD_PEPPER, or a damaged one:
			// the account cannot sign in with a password until it is reset.
			p.log.WarnContext(ctx, "password hash cannot be checked", "error", err, "user_id", u.ID)
		}
		return apierr.ErrUnauthenticated
	}
	p.Succeeded(ctx, u)
	return nil
}

// Attempt counts a sign-in attempt on u (nil: no such account; identifier
// then names the counter) before its credential is checked, a password or
// a passkey alike: a locked account is refused (TOO_MANY_REQUESTS) before
// any check. Until Succeeded, the attempt counts as a failure.
func (p *Passwords) Attempt(ctx context.Context, u *ent.User, identifier string) error {
	if p.lockout == nil {
		return nil
	}
	retry, err := p.lockout.Begin(ctx, lockoutKey(u, identifier))
	if err != nil {
		return apierr.Wrap(apierr.ServiceUnavailable, "sign-in is unavailable; try again later", err)
	}
	if retry > 0 {
		return errLocked(retry)
	}
	return nil
}

// Succeeded forgets u's failed sign-ins after a credential of u matched.
func (p *Passwords) Succeeded(ctx context.Context, u *ent.User) {
	if p.lockout == nil {
		return
	}
	if err := p.lockout.Reset(ctx, lockoutKey(u, "")); err != nil {
		p.log.WarnContext(ctx, "reset sign-in failures", "error", err, "user_id", u.ID)
	}
}

// Upgrade returns a new hash of pw, which has just matched hash, when
// hash is of an older form, a lower BCRYPT_COST or another pepper
// (password.Hasher.NeedsRehash); ok is false when hash is current.
func (p *Passwords) Upgrade(hash, pw string) (newHash string, ok bool, err error) {
	if !p.hasher.NeedsRehash(hash) {
		return "", false, nil
	}
	newHash, err = p.hasher.Hash(pw)
	return newHash, err == nil, err
}

// Checks is how many passwords have been compared with a hash (real or
// dummy) since start. The lockout tests use it to prove that refused
// attempts never reach bcrypt.
func (p *Passwords) Checks() int64 { return p.checks.Load() }

// Unlock forgets u's failed sign-ins: a password reset proves the owner,
// who may sign in at once.
func (p *Passwords) Unlock(ctx context.Context, u *ent.User) { p.Succeeded(ctx, u) }
