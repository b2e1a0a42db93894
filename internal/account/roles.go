package account

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/predicate"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/validate"
)

// SetUserRole gives the account id the role. Admins only (the caller's
// role is re-read from the database, see internal/authn). Demoting the
// last ADMIN is refused.
func (s *Service) SetUserRole(ctx context.Context, id uuid.UUID, role user.Role) (*ent.User, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := v.RequireAdmin(); err != nil {
		return nil, err
	}
	return s.assignRole(ctx, user.ID(id), role, audit.User(v.UserID))
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
		return s.assignRole(ctx, user.ID(*who.ID), role, audit.ActorCLI)
	case who.Email != nil:
		// The same normalisation as sign-up, or an internationalised
		// address would not be found.
		email, why := validate.Email(*who.Email)
		if why != "" {
			return nil, apierr.Invalid(map[string]string{"email": why})
		}
		return s.assignRole(ctx, user.Email(email), role, audit.ActorCLI)
	}
	return nil, apierr.Invalid(map[string]string{"id": "give an id or an email"})
}

// assignRole sets the role of the one user matching which, on behalf of
// actor (for the audit trail).
func (s *Service) assignRole(ctx context.Context, which predicate.User, role user.Role, actor string) (*ent.User, error) {
	if user.RoleValidator(role) != nil {
		return nil, apierr.Invalid(map[string]string{"role": "must be ADMIN or USER"})
	}
	var out *ent.User
	err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		u, err := lockForRoleChange(ctx, tx, which)
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
		if out, err = tx.User.UpdateOne(u).SetRole(role).Save(ctx); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Event{Type: audit.UserRoleChanged, Actor: actor, UserID: u.ID,
			Details: map[string]any{"from": string(u.Role), "to": string(role)}})
	})
	return out, err
}

// lockForRoleChange locks the admins, then returns the user matching
// which, locked too. Every role change and deletion locks the admin rows
// first and in id order, so that two of them that could together remove
// the last ADMIN take turns, and never deadlock (database.ForUpdate).
func lockForRoleChange(ctx context.Context, tx *ent.Tx, which predicate.User) (*ent.User, error) {
	if _, err := tx.User.Query().
		Where(user.RoleEQ(user.RoleADMIN), predicate.User(database.ForUpdate)).
		Unique(false).
		Order(ent.Asc(user.FieldID)).
		IDs(ctx); err != nil {
		return nil, fmt.Errorf("lock admins: %w", err)
	}
	u, err := tx.User.Query().Where(which, predicate.User(database.ForUpdate)).Unique(false).Only(ctx)
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
