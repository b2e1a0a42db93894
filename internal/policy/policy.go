package policy

import (
	"time"

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

// errReauth refuses a sensitive change in a session whose last proof of
// identity is too old.
var errReauth = apierr.New(apierr.ReauthenticationRequired, "this change needs a recent sign-in: call reauthenticate first")

// RequireRecentAuth returns REAUTHENTICATION_REQUIRED unless the viewer's
// access token says the person proved who they are (auth_time) within
// maxAge of now: enrollTotp, removeFactor, regenerateRecoveryCodes,
// changePassword and deleting oneself ask it. maxAge 0 turns the check
// off; a viewer without a token (the command line) passes.
func (v *Viewer) RequireRecentAuth(now time.Time, maxAge time.Duration) error {
	if maxAge <= 0 || v == nil || v.Claims == nil {
		return nil
	}
	if v.Claims.AuthTime == nil || now.Sub(v.Claims.AuthTime.Time) > maxAge {
		return errReauth
	}
	return nil
}
