package account

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/session"
)

// DeleteUser deletes the account id with its sessions and refresh tokens
// (the foreign keys cascade) and denies every access token it was issued.
// An admin may delete anyone, a user only themself (within
// REAUTH_MAX_AGE of their last proof of identity); deleting the last
// ADMIN is refused. It reports whether the caller deleted themself (and
// so their cookies should be cleared).
func (s *Service) DeleteUser(ctx context.Context, id uuid.UUID) (bool, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return false, err
	}
	if err := v.RequireAccessTo(id); err != nil {
		return false, err
	}
	if id == v.UserID {
		if err := v.RequireRecentAuth(s.now(), s.reauth); err != nil {
			return false, err
		}
	}
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		u, err := lockForRoleChange(ctx, tx, user.ID(id))
		if err != nil {
			return err
		}
		if u.Role == user.RoleADMIN {
			if err := ensureAnotherAdmin(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		// The account is gone for good (ids are never reused), so the
		// not-before may reach a second past now: tokens issued within
		// this second die too. The session entries cover the rest.
		sel := session.Selection{User: id, UserTokensBefore: s.now().Add(time.Second), By: audit.User(v.UserID)}
		if err := s.sessions.End(ctx, tx, sel, session.ReasonUserDeleted); err != nil {
			return err
		}
		if err := tx.User.DeleteOneID(id).Exec(ctx); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		return s.audit.Record(ctx, tx, audit.Event{Type: audit.UserDeleted, Actor: audit.User(v.UserID), UserID: id})
	})
	return err == nil && id == v.UserID, err
}
