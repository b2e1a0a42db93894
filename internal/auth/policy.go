package auth

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
)

// This file is the one place that says who may see and change what.
// Every resolver and service that returns a user or their sessions asks
// here, so that no two paths to the same data can disagree:
//
//	me, updateProfile, changePassword    the signed-in user, about themself
//	user(id), node(id), nodes(ids)       the user themself or an ADMIN (CanAccessUser)
//	a refresh token by node(id)          its owner or an ADMIN (CanAccessUser of the owner)
//	refreshTokens(userId), revoke        the user themself or an ADMIN (CanAccessUser)
//	deleteUser(id)                       the user themself or an ADMIN (CanAccessUser)
//	users, setUserRole                   ADMIN only (RequireAdmin)
//
// Anonymous callers get UNAUTHENTICATED from ViewerFrom before any rule
// here is asked. An ADMIN role claim is confirmed against the database
// when the request is authenticated (confirmRole), so a demoted admin
// loses these powers at once.

// CanAccessUser reports whether the viewer may read or manage the account
// userID and its sessions: the user themself, or an admin.
func (v *Viewer) CanAccessUser(userID uuid.UUID) bool {
	return v != nil && (v.UserID == userID || v.IsAdmin())
}

// RequireAccessTo returns FORBIDDEN unless the viewer may access userID.
func (v *Viewer) RequireAccessTo(userID uuid.UUID) error {
	if !v.CanAccessUser(userID) {
		return apierr.ErrForbidden
	}
	return nil
}

// RequireAdmin returns FORBIDDEN unless the viewer is an admin.
func (v *Viewer) RequireAdmin() error {
	if !v.IsAdmin() {
		return apierr.ErrForbidden
	}
	return nil
}

// confirmRole re-reads from the database the role of a viewer whose
// access token says ADMIN, when the request is authenticated. An access
// token lives for JWT_ACCESS_EXPIRES_IN and its role claim could be that
// stale; re-reading it means a demoted (or deleted) admin loses every
// admin power at once, at the price of one primary-key read per
// authenticated admin request. Ordinary users pay nothing: a promotion
// takes effect with the next access token (the next refresh), a
// demotion of an admin immediately.
func (s *Service) confirmRole(ctx context.Context, v *Viewer) error {
	if v.Role != user.RoleADMIN {
		return nil
	}
	u, err := s.db.User.Query().Where(user.ID(v.UserID)).Select(user.FieldRole).Only(ctx)
	if ent.IsNotFound(err) {
		return errTokenInvalid
	}
	if err != nil {
		return fmt.Errorf("read role: %w", err)
	}
	v.Role = u.Role
	return nil
}
