// Package auth is gqlauth's account and session logic: sign-up and
// sign-in, password hashing, refresh-token sessions with rotation and
// reuse detection, logout and revocation, and the viewer (who is calling)
// of each request. GraphQL resolvers call it; it knows nothing of GraphQL.
package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/token"
)

// Settings are the parts of the configuration the auth service uses.
type Settings struct {
	BcryptCost         int
	RefreshTokenTTL    time.Duration
	SessionMaxLifetime time.Duration
	RefreshReuseGrace  time.Duration
	Cookies            CookieSettings
	// Lockout refuses sign-ins on an account after too many failures; nil
	// means no lockout (tools that call the service directly).
	Lockout Lockout
}

// Service signs users up and in and manages their sessions.
type Service struct {
	db     *ent.Client
	tokens *token.Issuer
	deny   token.DenyList
	set    Settings
	log    *slog.Logger
	now    func() time.Time
	// metrics counts sign-ins and refreshes (see recorder.go).
	metrics Recorder
	// dummyHash is compared against when an account does not exist, so
	// that a sign-in takes as long for an unknown account as for a known one.
	dummyHash []byte
	checks    passwordChecks
}

// NewService returns the auth service.
func NewService(db *ent.Client, tokens *token.Issuer, deny token.DenyList, set Settings, log *slog.Logger) (*Service, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("gqlauth dummy password"), set.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("make dummy hash: %w", err)
	}
	if len(set.Cookies.CSRFKey) == 0 {
		// A tool that hands out no cookies; the server passes a key
		// derived from its configuration (config.CSRFKey).
		set.Cookies.CSRFKey = make([]byte, 32)
		_, _ = rand.Read(set.Cookies.CSRFKey)
	}
	return &Service{db: db, tokens: tokens, deny: deny, set: set, log: log, now: time.Now, metrics: nopRecorder{}, dummyHash: dummy}, nil
}

// Session is what a successful sign-up, sign-in or refresh hands out.
type Session struct {
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int
	User      *ent.User
	SessionID string
}

// SignUpInput is the signUp mutation's input (bound by gqlgen).
type SignUpInput struct {
	Email           *string
	Username        *string
	Password        string
	ConfirmPassword *string
	FirstName       *string
	LastName        *string
	Age             *int
}

// SignInInput is the signIn mutation's input (bound by gqlgen).
type SignInInput struct {
	Email    *string
	Username *string
	Password string
}

// SignUp creates an account and signs it in. Every invalid field is
// reported at once; a taken email or username is CONFLICT, decided by the
// database's unique indexes so that concurrent sign-ups cannot both win.
func (s *Service) SignUp(ctx context.Context, in SignUpInput) (*Session, error) {
	errs := fieldErrors{}
	p := checkProfile(errs, in.Email, in.Username, in.FirstName, in.LastName, in.Age)
	if p.email == nil && p.username == nil && errs["email"] == "" && errs["username"] == "" {
		errs.add("email", "an email or a username is required")
	}
	if why := checkPassword(in.Password); why != "" {
		errs.add("password", why)
	}
	if in.ConfirmPassword != nil && *in.ConfirmPassword != in.Password {
		errs.add("confirmPassword", "does not match password")
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	var is issued
	err = withTx(ctx, s.db, func(tx *ent.Tx) error {
		u, err := tx.User.Create().
			SetNillableEmail(p.email).
			SetNillableUsername(p.username).
			SetNillableUsernameKey(p.usernameKey).
			SetPasswordHash(string(hash)).
			SetNillableFirstName(p.firstName).
			SetNillableLastName(p.lastName).
			SetNillableAge(p.age).
			Save(ctx)
		if err != nil {
			return conflictOr(err)
		}
		is, err = s.startSession(ctx, tx, u)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.handOut(ctx, is)
}

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

// signIn checks a password and starts a new session. A wrong password and
// an unknown account get the same answer after the same work.
func (s *Service) signIn(ctx context.Context, in SignInInput) (*Session, error) {
	hasEmail := in.Email != nil && strings.TrimSpace(*in.Email) != ""
	hasUsername := in.Username != nil && strings.TrimSpace(*in.Username) != ""
	errs := fieldErrors{}
	if hasEmail == hasUsername {
		errs.add("email", "give exactly one of email and username")
	}
	var identifier string
	switch {
	case hasEmail:
		email, why := normalizeEmail(*in.Email)
		if why != "" {
			errs.add("email", why)
		}
		identifier = email
	case hasUsername:
		name := strings.TrimSpace(*in.Username)
		if len(name) > MaxUsernameBytes || !cleanText(name) {
			errs.add("username", "is not a valid username")
		}
		identifier = strings.ToLower(name)
	}
	if why := checkSignInPassword(in.Password); why != "" {
		errs.add("password", why)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	q := s.db.User.Query()
	if hasEmail {
		q.Where(user.Email(identifier))
	} else {
		q.Where(user.UsernameKey(identifier))
	}
	u, err := q.Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	if err := s.checkCredentials(ctx, u, identifier, in.Password); err != nil {
		return nil, err
	}
	var is issued
	err = withTx(ctx, s.db, func(tx *ent.Tx) error {
		is, err = s.startSession(ctx, tx, u)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.handOut(ctx, is)
}

// Me returns the signed-in user, read fresh from the database.
func (s *Service) Me(ctx context.Context) (*ent.User, error) {
	v, err := ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.db.User.Get(ctx, v.UserID)
	if ent.IsNotFound(err) {
		return nil, apierr.New(apierr.Unauthenticated, "the account no longer exists")
	}
	return u, err
}

func (s *Service) hashPassword(p string) ([]byte, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(p), s.set.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// withTx runs fn in a transaction, committing when it returns nil.
func withTx(ctx context.Context, db *ent.Client, fn func(tx *ent.Tx) error) error {
	tx, err := db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
