// Package account is gqlauth's accounts: signing up (and the operator's
// `gqlauth user create`, through the same path), a user's profile and
// password, roles, deletion, and reading users. Who may call what is
// internal/policy's answer; input is checked by internal/validate.
package account

import (
	"strings"
	"time"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/authn"
	"github.com/gqlauth/gqlauth/internal/session"
)

// Deps are what the account service works with.
type Deps struct {
	DB        *ent.Client
	Passwords *authn.Passwords
	// Sessions starts a session at sign-up and ends them at a password
	// change or a deletion; the command line, which does neither, may
	// leave it nil.
	Sessions *session.Service
	// Audit records sign-ups and account changes; nil records nothing.
	Audit *audit.Trail
	// Clock is the time every rule here reads; nil is time.Now.
	Clock func() time.Time
}

// Service manages accounts.
type Service struct {
	db        *ent.Client
	passwords *authn.Passwords
	sessions  *session.Service
	audit     *audit.Trail
	now       func() time.Time
}

// New returns the account service.
func New(d Deps) *Service {
	s := &Service{db: d.DB, passwords: d.Passwords, sessions: d.Sessions, audit: d.Audit, now: d.Clock}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

var (
	errWrongPassword = apierr.New(apierr.Unauthenticated, "the current password is wrong")
	errLastAdmin     = apierr.New(apierr.BadUserInput, "the last ADMIN cannot be demoted or deleted; make another user ADMIN first")
	errUserNotFound  = apierr.New(apierr.NotFound, "user not found")
	errAccountGone   = apierr.New(apierr.Unauthenticated, "the account no longer exists")
)

// conflictOr maps a unique-index violation to CONFLICT, naming the field
// when the database says which index it was.
func conflictOr(err error) error {
	if !ent.IsConstraintError(err) {
		return err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "username"):
		return &apierr.Error{Code: apierr.Conflict, Message: "username is already taken", Fields: map[string]string{"username": "is already taken"}, Err: err}
	case strings.Contains(msg, "email"):
		return &apierr.Error{Code: apierr.Conflict, Message: "email is already registered", Fields: map[string]string{"email": "is already registered"}, Err: err}
	}
	return apierr.Wrap(apierr.Conflict, "email or username is already taken", err)
}
