package auth

import (
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apierr"
)

// This file is the one place that says who may see and change what.
// Every resolver and service that returns a user or their sessions asks
// here, so that no two paths to the same data can disagree.

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
