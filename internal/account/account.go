// Package account is gqlauth's accounts: signing up (and the operator's
// `gqlauth user create`, through the same path), a user's profile and
// password, roles, deletion, and reading users. Who may call what is
// internal/policy's answer; input is checked by internal/validate.
package account

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/authn"
	"github.com/gqlauth/gqlauth/internal/authn/emailcode"
	"github.com/gqlauth/gqlauth/internal/mail"
	"github.com/gqlauth/gqlauth/internal/password"
	"github.com/gqlauth/gqlauth/internal/session"
)

// Deps are what the account service works with.
type Deps struct {
	DB *ent.Client
	// ReadUser, when set, is how `me` reads the signed-in user: the
	// database's fast path (database.DB.ReadUser), reading the columns
	// given (nil: all); nil reads the whole row through DB.
	ReadUser  func(ctx context.Context, id uuid.UUID, columns []string) (*ent.User, error)
	Passwords *authn.Passwords
	// Policy decides which new passwords are acceptable.
	Policy *password.Policy
	// Sessions starts a session at sign-up and ends them at a password
	// change or a deletion; the command line, which does neither, may
	// leave it nil.
	Sessions *session.Service
	// ReauthMaxAge is REAUTH_MAX_AGE: how recent the session's last proof
	// of identity must be for a password change or deleting oneself
	// (0: off).
	ReauthMaxAge time.Duration
	// Audit records sign-ups and account changes; nil records nothing.
	Audit *audit.Trail
	// Mailer queues the mails of the email flows; nil turns the flows off
	// (EMAIL_VERIFICATION=off, and the command line).
	Mailer *mail.Mailer
	// Codes are the one-time links and codes the flows mail; needed with
	// Mailer.
	Codes *emailcode.Store
	// MailLimit counts the mails with a link or code per address
	// (EMAIL_RATE_LIMIT); nil is no limit.
	MailLimit AddressLimiter
	// Flows are the settings of the email flows.
	Flows Flows
	// SecondFactor, when set, is asked before a password reset takes
	// effect (see SecondFactor); nil asks nothing (the command line).
	SecondFactor SecondFactor
	// Clock is the time every rule here reads; nil is time.Now.
	Clock func() time.Time
}

// Flows are the settings of the email flows (internal/config).
type Flows struct {
	// Verification is EMAIL_VERIFICATION: off, optional or required.
	Verification string
	// EmailTokenTTL and PasswordResetTTL are how long a mailed link and
	// code stay valid.
	EmailTokenTTL, PasswordResetTTL time.Duration
	// LinkURL is APP_URL + EMAIL_LINK_PATH: the page the links open.
	LinkURL string
	// NotifyUnknown is PASSWORD_RESET_NOTIFY_UNKNOWN.
	NotifyUnknown bool
}

// The values of Flows.Verification (EMAIL_VERIFICATION).
const (
	VerificationOff      = "off"
	VerificationOptional = "optional"
	VerificationRequired = "required"
)

// AddressLimiter counts events per key in a window
// (internal/ratelimit.Lockout, in Redis or in process).
type AddressLimiter interface {
	// Begin counts one event of key and returns 0 when it may go ahead,
	// else how long until it may.
	Begin(ctx context.Context, key string) (time.Duration, error)
}

// SecondFactor is the hook a password reset calls before it changes
// anything (OWASP ASVS 5.0 V6.4.3: a reset must not bypass a second
// factor). The second factors (internal/authn's MFA) implement it: an
// error refuses the reset and leaves its link or code unspent. Whatever
// it allows, the reset's session starts at AAL1 (session.StartAfterReset),
// so an account with a verified factor still steps up with verifyMfa.
type SecondFactor interface {
	// CheckReset returns nil when u may reset its password now.
	CheckReset(ctx context.Context, u *ent.User) error
}

// Service manages accounts.
type Service struct {
	db           *ent.Client
	passwords    *authn.Passwords
	policy       *password.Policy
	sessions     *session.Service
	mailer       *mail.Mailer
	codes        *emailcode.Store
	mailLimit    AddressLimiter
	flows        Flows
	secondFactor SecondFactor
	audit        *audit.Trail
	now          func() time.Time
	reauth       time.Duration
	readUser     func(ctx context.Context, id uuid.UUID, columns []string) (*ent.User, error)
}

// New returns the account service.
func New(d Deps) *Service {
	s := &Service{db: d.DB, passwords: d.Passwords, policy: d.Policy, sessions: d.Sessions,
		mailer: d.Mailer, codes: d.Codes, mailLimit: d.MailLimit, flows: d.Flows, secondFactor: d.SecondFactor, audit: d.Audit, now: d.Clock,
		reauth: d.ReauthMaxAge, readUser: d.ReadUser}
	if s.readUser == nil {
		s.readUser = func(ctx context.Context, id uuid.UUID, _ []string) (*ent.User, error) { return s.db.User.Get(ctx, id) }
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.mailer == nil {
		s.flows.Verification = VerificationOff
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
