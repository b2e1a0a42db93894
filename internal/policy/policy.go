package policy

import (
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apierr"
)

// Who may see and change what:
//
//	me, updateProfile, changePassword    the signed-in user, about themself
//	user(id), node(id), nodes(ids)       the user themself or an ADMIN (CanAccessUser)
//	a session or refresh token by node   its owner or an ADMIN (CanAccessUser of the owner)
//	sessions(userId), revokeSession      the user themself or an ADMIN (CanAccessUser)
//	refreshTokens(userId), revoke        the user themself or an ADMIN (CanAccessUser)
//	deleteUser(id)                       the user themself or an ADMIN (CanAccessUser)
//	users, setUserRole                   ADMIN only (RequireAdmin)
//
// Anonymous callers get UNAUTHENTICATED from ViewerFrom before any rule
// here is asked. An ADMIN role claim is confirmed against the database
// when the request is authenticated (internal/authn), so a demoted admin
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
