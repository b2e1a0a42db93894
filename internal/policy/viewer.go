// Package policy is the one place that says who is calling (the Viewer of
// a request) and what they may see and change. Every service that returns
// a user, a session or a refresh token asks here, so that no two paths to
// the same data can disagree.
package policy

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/token"
)

// Viewer is the signed-in user making a request, as its access token says.
type Viewer struct {
	UserID    uuid.UUID
	SessionID uuid.UUID
	Role      user.Role
	// Claims are the verified access token; nil for a viewer made by
	// WithViewer (the command line and tests), which has no token.
	Claims *token.Claims
}

// IsAdmin reports whether the viewer has the ADMIN role.
func (v *Viewer) IsAdmin() bool { return v != nil && v.Role == user.RoleADMIN }

// Authenticate finds the viewer of a request. It returns nil, nil when
// the request carries no credentials.
type Authenticate func(ctx context.Context) (*Viewer, error)

// lazy is a request's Authenticate, run at most once: operations that need
// no viewer (signIn, signUp) never pay for it, and a request that needs it
// pays once.
type lazy struct {
	once   sync.Once
	auth   Authenticate
	viewer *Viewer
	err    error
}

type viewerKey struct{}

// WithAuthenticate returns ctx whose viewer is found by auth when a
// service first asks for it.
func WithAuthenticate(ctx context.Context, auth Authenticate) context.Context {
	return context.WithValue(ctx, viewerKey{}, &lazy{auth: auth})
}

// WithViewer returns ctx whose viewer is v, already verified (for the
// command line and tests that call services directly).
func WithViewer(ctx context.Context, v *Viewer) context.Context {
	l := &lazy{viewer: v}
	l.once.Do(func() {})
	return context.WithValue(ctx, viewerKey{}, l)
}

// ViewerFrom returns the verified viewer of ctx, or UNAUTHENTICATED when
// the request has no valid access token, or SERVICE_UNAVAILABLE when the
// deny list cannot be asked.
func ViewerFrom(ctx context.Context) (*Viewer, error) {
	v, err := OptionalViewer(ctx)
	if err == nil && v == nil {
		return nil, apierr.ErrNoViewer
	}
	return v, err
}

// OptionalViewer is ViewerFrom for operations that also work without an
// access token: it returns nil, nil when the request carries none.
func OptionalViewer(ctx context.Context) (*Viewer, error) {
	l, ok := ctx.Value(viewerKey{}).(*lazy)
	if !ok {
		return nil, nil
	}
	l.once.Do(func() {
		if l.auth != nil {
			l.viewer, l.err = l.auth(ctx)
		}
	})
	return l.viewer, l.err
}
