package auth

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/predicate"
	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	"github.com/gqlauth/gqlauth/ent/schema"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/request"
	"github.com/gqlauth/gqlauth/internal/token"
)

// This file is account management: a user editing their own profile and
// password, admins changing roles and deleting accounts, and the
// operator's command line creating users. Who may call what is asked of
// policy.go.

var (
	errWrongPassword = apierr.New(apierr.Unauthenticated, "the current password is wrong")
	errLastAdmin     = apierr.New(apierr.BadUserInput, "the last ADMIN cannot be demoted or deleted; make another user ADMIN first")
	errUserNotFound  = apierr.New(apierr.NotFound, "user not found")
	errAccountGone   = apierr.New(apierr.Unauthenticated, "the account no longer exists")
)

// Change is one field of a partial update. Set says the client gave the
// field at all; a Set change whose Value is nil clears the field.
type Change[T any] struct {
	Set   bool
	Value *T
}

// ProfileUpdate is the updateProfile mutation's input: the fields to
// change. A text field set to an empty string is cleared like a nil one.
type ProfileUpdate struct {
	Email     Change[string]
	Username  Change[string]
	FirstName Change[string]
	LastName  Change[string]
	Age       Change[int]
}

// UpdateProfile changes the signed-in user's profile. Values are checked
// as in SignUp, and every invalid field is reported at once, together
// with "an email or a username is required" when the change would leave
// neither. A taken email or username is CONFLICT, decided by the
// database's unique indexes. The access token's email and username
// claims catch up at the next refresh.
func (s *Service) UpdateProfile(ctx context.Context, in ProfileUpdate) (*ent.User, error) {
	v, err := ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	errs := fieldErrors{}
	p := checkProfile(errs, in.Email.Value, in.Username.Value, in.FirstName.Value, in.LastName.Value, in.Age.Value)
	var out *ent.User
	err = withTx(ctx, s.db, func(tx *ent.Tx) error {
		// The row lock makes concurrent updates of one user take turns, so
		// two of them cannot together clear both email and username.
		u, err := tx.User.Query().Where(user.ID(v.UserID), lockOnPostgres()).Unique(false).Only(ctx)
		if ent.IsNotFound(err) {
			return errAccountGone
		}
		if err != nil {
			return err
		}
		upd := tx.User.UpdateOne(u)
		email, username := u.Email, u.Username
		if in.Email.Set {
			email = p.email
			if p.email != nil {
				upd.SetEmail(*p.email)
			} else {
				upd.ClearEmail()
			}
		}
		if in.Username.Set {
			username = p.username
			if p.username != nil {
				upd.SetUsername(*p.username).SetUsernameKey(*p.usernameKey)
			} else {
				upd.ClearUsername().ClearUsernameKey()
			}
		}
		if in.FirstName.Set {
			upd.SetNillableFirstName(p.firstName)
			if p.firstName == nil {
				upd.ClearFirstName()
			}
		}
		if in.LastName.Set {
			upd.SetNillableLastName(p.lastName)
			if p.lastName == nil {
				upd.ClearLastName()
			}
		}
		if in.Age.Set {
			upd.SetNillableAge(p.age)
			if p.age == nil {
				upd.ClearAge()
			}
		}
		if email == nil && username == nil && errs["email"] == "" && errs["username"] == "" {
			errs.add("email", "an email or a username is required")
		}
		if err := errs.err(); err != nil {
			return err
		}
		out, err = upd.Save(ctx)
		return conflictOr(err)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ChangePassword replaces the signed-in user's password after checking
// the current one (wrong: UNAUTHENTICATED). Every other session of the
// user ends: its refresh tokens are revoked with reason password_changed
// and its access tokens denied. The current session goes on under the same
// session id with a new refresh token and a new access token; its old
// refresh tokens stop working (revoked as password_changed, which is not a
// rotation, so presenting one later does not trip reuse detection).
func (s *Service) ChangePassword(ctx context.Context, current, next string) (*Session, error) {
	v, err := ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.db.User.Get(ctx, v.UserID)
	if ent.IsNotFound(err) {
		return nil, errAccountGone
	}
	if err != nil {
		return nil, err
	}
	// The check shares sign-in's lockout, so that a stolen access token
	// cannot be used to guess the password here instead.
	if len(current) > MaxPasswordBytes {
		return nil, errWrongPassword
	}
	if err := s.checkCredentials(ctx, u, "", current); err != nil {
		if apierr.CodeOf(err) == apierr.Unauthenticated {
			return nil, errWrongPassword
		}
		return nil, err
	}
	if why := checkPassword(next); why != "" {
		return nil, apierr.Invalid(map[string]string{"newPassword": why})
	}
	if next == current {
		return nil, apierr.Invalid(map[string]string{"newPassword": "must differ from the current password"})
	}
	hash, err := s.hashPassword(next)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var (
		is     issued
		others []string
	)
	err = withTx(ctx, s.db, func(tx *ent.Tx) error {
		u, err := tx.User.UpdateOneID(v.UserID).
			Where(user.PasswordHash(u.PasswordHash)). // a concurrent change wins once
			SetPasswordHash(string(hash)).
			Save(ctx)
		if ent.IsNotFound(err) {
			return errWrongPassword
		}
		if err != nil {
			return err
		}
		if others, err = s.revokeWhere(ctx, tx, ReasonPasswordChanged,
			refreshtoken.UserID(v.UserID), refreshtoken.SessionIDNEQ(v.SessionID)); err != nil {
			return err
		}
		if is, err = s.continueSession(ctx, tx, u, v.SessionID, now); err != nil {
			return err
		}
		// Denied before the commit: if the deny list fails, the password
		// and sessions stay as they were and the user can retry.
		//
		// Every access token the user holds was issued before now, so the
		// user entry denies them all; tokens issued within this very
		// second are caught by the session entries (other sessions) and
		// the jti entry (the token of this request). The new access token
		// is issued at or after now and passes.
		if err := s.deny.DenyUserBefore(ctx, v.UserID.String(), now); err != nil {
			return errDenyUnavailable(err)
		}
		if v.Claims != nil { // nil for a viewer set by WithViewer: no token to deny
			if err := s.deny.DenyToken(ctx, v.Claims.ID); err != nil {
				return errDenyUnavailable(err)
			}
		}
		return s.denySessions(ctx, others)
	})
	if err != nil {
		return nil, err
	}
	return s.handOut(ctx, is)
}

// continueSession revokes the live refresh tokens of session sid and
// stores a new one in the same session, keeping the session's start (and
// so its absolute lifetime). A session past its lifetime, or with no
// token left, is replaced by a new session.
func (s *Service) continueSession(ctx context.Context, tx *ent.Tx, u *ent.User, sid uuid.UUID, at time.Time) (issued, error) {
	if _, err := s.revokeWhere(ctx, tx, ReasonPasswordChanged, refreshtoken.SessionID(sid)); err != nil {
		return issued{}, err
	}
	last, err := tx.RefreshToken.Query().
		Where(refreshtoken.SessionID(sid), refreshtoken.UserID(u.ID)).
		Order(ent.Desc(refreshtoken.FieldCreatedAt)).
		First(ctx)
	started := at
	if err == nil {
		started = last.SessionStartedAt
	} else if !ent.IsNotFound(err) {
		return issued{}, err
	}
	deadline := started.Add(s.set.SessionMaxLifetime)
	if !at.Before(deadline) {
		sid, started, deadline = schema.NewID(), at, at.Add(s.set.SessionMaxLifetime)
	}
	raw, hash := token.NewRefreshToken()
	is := issued{user: u, sessionID: sid, refresh: raw, expires: earliest(at.Add(s.set.RefreshTokenTTL), deadline)}
	return is, s.storeToken(ctx, tx, is, hash, at, started, schema.NewID())
}

// SetUserRole gives the account id the role. Admins only (the caller's
// role is re-read from the database, see policy.go). Demoting the last
// ADMIN is refused.
func (s *Service) SetUserRole(ctx context.Context, id uuid.UUID, role user.Role) (*ent.User, error) {
	v, err := ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := v.RequireAdmin(); err != nil {
		return nil, err
	}
	return s.assignRole(ctx, user.ID(id), role)
}

// DeleteUser deletes the account id with its refresh tokens (the foreign
// key cascades) and denies every access token it was issued. An admin may
// delete anyone, a user only themself; deleting the last ADMIN is refused.
func (s *Service) DeleteUser(ctx context.Context, id uuid.UUID) (bool, error) {
	v, err := ViewerFrom(ctx)
	if err != nil {
		return false, err
	}
	if err := v.RequireAccessTo(id); err != nil {
		return false, err
	}
	var sids []string
	now := s.now()
	err = withTx(ctx, s.db, func(tx *ent.Tx) error {
		u, err := s.lockForRoleChange(ctx, tx, user.ID(id))
		if err != nil {
			return err
		}
		if u.Role == user.RoleADMIN {
			if err := ensureAnotherAdmin(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		var ids []uuid.UUID
		if err := tx.RefreshToken.Query().Where(refreshtoken.UserID(id)).Unique(true).
			Select(refreshtoken.FieldSessionID).Scan(ctx, &ids); err != nil {
			return fmt.Errorf("find sessions: %w", err)
		}
		for _, sid := range ids {
			sids = append(sids, sid.String())
		}
		if err := tx.User.DeleteOneID(id).Exec(ctx); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		// Denied before the commit, so that a deny-list failure keeps the
		// account and a retry can delete it. The account is gone for good
		// (ids are never reused), so the user entry may reach a second
		// past now: tokens issued within this second die too. The session
		// entries cover the rest.
		if err := s.deny.DenyUserBefore(ctx, id.String(), now.Add(time.Second)); err != nil {
			return errDenyUnavailable(err)
		}
		return s.denySessions(ctx, sids)
	})
	if err != nil {
		return false, err
	}
	if id == v.UserID {
		s.set.Cookies.clear(request.From(ctx))
	}
	return true, nil
}

// NewUser is an account created by the operator's command line.
type NewUser struct {
	Email    *string
	Username *string
	Password string
	Role     user.Role
}

// CreateUser creates an account without signing it in, checked like
// SignUp. It is for the operator's command line (`gqlauth user create`),
// which needs no viewer: whoever can run it can reach the database anyway.
func (s *Service) CreateUser(ctx context.Context, in NewUser) (*ent.User, error) {
	errs := fieldErrors{}
	p := checkProfile(errs, in.Email, in.Username, nil, nil, nil)
	if p.email == nil && p.username == nil && errs["email"] == "" && errs["username"] == "" {
		errs.add("email", "an email or a username is required")
	}
	if why := checkPassword(in.Password); why != "" {
		errs.add("password", why)
	}
	if in.Role == "" {
		in.Role = user.RoleUSER
	}
	if user.RoleValidator(in.Role) != nil {
		errs.add("role", "must be ADMIN or USER")
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	u, err := s.db.User.Create().
		SetNillableEmail(p.email).
		SetNillableUsername(p.username).
		SetNillableUsernameKey(p.usernameKey).
		SetPasswordHash(string(hash)).
		SetRole(in.Role).
		Save(ctx)
	if err != nil {
		return nil, conflictOr(err)
	}
	return u, nil
}

// UserRef names an account by id or by email, as the command line does.
type UserRef struct {
	ID    *uuid.UUID
	Email *string
}

// AssignRole gives an account a role, for the operator's command line
// (`gqlauth user set-role`): no viewer, but the last-ADMIN rule holds.
func (s *Service) AssignRole(ctx context.Context, who UserRef, role user.Role) (*ent.User, error) {
	switch {
	case who.ID != nil:
		return s.assignRole(ctx, user.ID(*who.ID), role)
	case who.Email != nil:
		// The same normalisation as sign-up, or an internationalised
		// address would not be found.
		email, why := normalizeEmail(*who.Email)
		if why != "" {
			return nil, apierr.Invalid(map[string]string{"email": why})
		}
		return s.assignRole(ctx, user.Email(email), role)
	}
	return nil, apierr.Invalid(map[string]string{"id": "give an id or an email"})
}

// assignRole sets the role of the one user matching which.
func (s *Service) assignRole(ctx context.Context, which predicate.User, role user.Role) (*ent.User, error) {
	if user.RoleValidator(role) != nil {
		return nil, apierr.Invalid(map[string]string{"role": "must be ADMIN or USER"})
	}
	var out *ent.User
	err := withTx(ctx, s.db, func(tx *ent.Tx) error {
		u, err := s.lockForRoleChange(ctx, tx, which)
		if err != nil {
			return err
		}
		if u.Role == role {
			out = u
			return nil
		}
		if u.Role == user.RoleADMIN {
			if err := ensureAnotherAdmin(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		out, err = tx.User.UpdateOne(u).SetRole(role).Save(ctx)
		return err
	})
	return out, err
}

// lockForRoleChange locks the admins, then returns the user matching
// which, locked too. Every role change and deletion locks the admin rows
// first and in id order, so that two of them that could together remove
// the last ADMIN take turns, and never deadlock. On PostgreSQL the locks
// are row locks (SELECT … FOR UPDATE); SQLite transactions begin
// IMMEDIATE and so already run one at a time.
func (s *Service) lockForRoleChange(ctx context.Context, tx *ent.Tx, which predicate.User) (*ent.User, error) {
	if _, err := tx.User.Query().
		Where(user.RoleEQ(user.RoleADMIN), lockOnPostgres()).
		Unique(false).
		Order(ent.Asc(user.FieldID)).
		IDs(ctx); err != nil {
		return nil, fmt.Errorf("lock admins: %w", err)
	}
	u, err := tx.User.Query().Where(which, lockOnPostgres()).Unique(false).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errUserNotFound
	}
	return u, err
}

// ensureAnotherAdmin returns BAD_USER_INPUT unless an ADMIN other than id
// exists. Call it after lockForRoleChange, in the same transaction.
func ensureAnotherAdmin(ctx context.Context, tx *ent.Tx, id uuid.UUID) error {
	n, err := tx.User.Query().Where(user.RoleEQ(user.RoleADMIN), user.IDNEQ(id)).Count(ctx)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if n == 0 {
		return errLastAdmin
	}
	return nil
}

// lockOnPostgres is a predicate that matches every row and makes the
// query lock the rows it returns (FOR UPDATE) on PostgreSQL. SQLite has
// no row locks and needs none: its transactions take the write lock when
// they begin.
func lockOnPostgres() predicate.User {
	return func(s *entsql.Selector) {
		if s.Dialect() == dialect.Postgres {
			s.ForUpdate()
		}
	}
}
