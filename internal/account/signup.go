package account

import (
	"context"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/session"
	"github.com/gqlauth/gqlauth/internal/validate"
)

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

// NewUser is an account created by the operator's command line.
type NewUser struct {
	Email    *string
	Username *string
	Password string
	Role     user.Role
}

// registration is a checked new account, ready to store.
type registration struct {
	fields validate.Fields
	hash   string
	role   user.Role
}

// check validates a new account's fields and password and hashes the
// password: the rules of signUp and `gqlauth user create` alike. Every
// invalid field is reported at once.
func (s *Service) check(ctx context.Context, errs validate.Errors, f validate.Fields, password string, role user.Role) (registration, error) {
	validate.RequireEmailOrUsername(errs, f.Email, f.Username)
	if err := s.checkPassword(ctx, errs, "password", password, f.Email, f.Username); err != nil {
		return registration{}, err
	}
	if role == "" {
		role = user.RoleUSER
	}
	if user.RoleValidator(role) != nil {
		errs.Add("role", "must be ADMIN or USER")
	}
	if err := errs.Err(); err != nil {
		return registration{}, err
	}
	hash, err := s.passwords.Hash(password)
	if err != nil {
		return registration{}, err
	}
	return registration{fields: f, hash: hash, role: role}, nil
}

// store creates the account r in tx. A taken email or username is
// CONFLICT, decided by the database's unique indexes so that concurrent
// sign-ups cannot both win.
func store(ctx context.Context, tx *ent.Tx, r registration) (*ent.User, error) {
	u, err := tx.User.Create().
		SetNillableEmail(r.fields.Email).
		SetNillableUsername(r.fields.Username).
		SetNillableUsernameKey(r.fields.UsernameKey).
		SetPasswordHash(r.hash).
		SetNillableFirstName(r.fields.FirstName).
		SetNillableLastName(r.fields.LastName).
		SetNillableAge(r.fields.Age).
		SetRole(r.role).
		Save(ctx)
	return u, conflictOr(err)
}

// SignUp creates an account and signs it in. With the email flows on,
// an account with an email address is mailed a verification link and
// code, in the same transaction.
func (s *Service) SignUp(ctx context.Context, in SignUpInput) (*session.Tokens, error) {
	errs := validate.Errors{}
	f := validate.Profile(errs, in.Email, in.Username, in.FirstName, in.LastName, in.Age)
	if in.ConfirmPassword != nil && *in.ConfirmPassword != in.Password {
		errs.Add("confirmPassword", "does not match password")
	}
	r, err := s.check(ctx, errs, f, in.Password, user.RoleUSER)
	if err != nil {
		return nil, err
	}
	// Over the per-address limit the account is still created, without
	// the mail (sendVerificationEmail asks again later).
	mailOK := false
	if s.flowsOn() && f.Email != nil {
		mailOK = s.mayMail(ctx, *f.Email) == nil
	}
	var is session.Issued
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		u, err := store(ctx, tx, r)
		if err != nil {
			return err
		}
		if mailOK {
			if err := s.queueVerification(ctx, tx, u); err != nil {
				return err
			}
		}
		if is, err = s.sessions.Start(ctx, tx, u); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Event{Type: audit.UserSignedUp, UserID: u.ID, SessionID: is.SessionID()})
	})
	if err != nil {
		return nil, err
	}
	return s.sessions.HandOut(is)
}

// Create creates an account without signing it in, checked like SignUp.
// It is for the operator's command line (`gqlauth user create`), which
// needs no viewer: whoever can run it can reach the database anyway.
func (s *Service) Create(ctx context.Context, in NewUser) (*ent.User, error) {
	errs := validate.Errors{}
	f := validate.Profile(errs, in.Email, in.Username, nil, nil, nil)
	r, err := s.check(ctx, errs, f, in.Password, in.Role)
	if err != nil {
		return nil, err
	}
	var u *ent.User
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		if u, err = store(ctx, tx, r); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Event{Type: audit.UserSignedUp, Actor: audit.ActorCLI, UserID: u.ID,
			Details: map[string]any{"role": string(u.Role)}})
	})
	return u, err
}

// checkPassword adds to errs, under field, why a new password is not
// acceptable (internal/password's policy; words are what the account is
// known by). The error is not nil only when ctx ended.
func (s *Service) checkPassword(ctx context.Context, errs validate.Errors, field, pw string, words ...*string) error {
	var ws []string
	for _, w := range words {
		if w != nil {
			ws = append(ws, *w)
		}
	}
	why, err := s.policy.Check(ctx, pw, ws...)
	if err != nil {
		return err
	}
	if why != "" {
		errs.Add(field, why)
	}
	return nil
}
