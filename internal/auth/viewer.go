package auth

import (
	"context"
	"errors"
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
	Claims    *token.Claims
}

// IsAdmin reports whether the viewer has the ADMIN role.
func (v *Viewer) IsAdmin() bool { return v != nil && v.Role == user.RoleADMIN }

// credentials is the bearer token of one request, verified on first use:
// operations that need no viewer (signIn, signUp) never pay for the deny
// list, and a request that needs it pays once.
type credentials struct {
	once   sync.Once
	bearer string
	svc    *Service
	viewer *Viewer
	err    error
}

type credentialsKey struct{}

// WithBearer returns ctx carrying the request's bearer token ("" for none).
func (s *Service) WithBearer(ctx context.Context, bearer string) context.Context {
	return context.WithValue(ctx, credentialsKey{}, &credentials{bearer: bearer, svc: s})
}

// WithViewer returns ctx whose viewer is v, already verified (for the
// command line and tests that call services directly).
func WithViewer(ctx context.Context, v *Viewer) context.Context {
	c := &credentials{viewer: v}
	c.once.Do(func() {})
	return context.WithValue(ctx, credentialsKey{}, c)
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
	c, ok := ctx.Value(credentialsKey{}).(*credentials)
	if !ok {
		return nil, nil
	}
	c.once.Do(func() {
		if c.bearer != "" {
			c.viewer, c.err = c.svc.authenticate(ctx, c.bearer)
		}
	})
	return c.viewer, c.err
}

// errTokenInvalid is the answer for any access token that is malformed,
// expired, wrongly signed or denied.
var errTokenInvalid = apierr.New(apierr.Unauthenticated, "invalid or expired access token")

// authenticate verifies an access token and checks the deny list. When
// the deny list cannot answer, it fails closed: an unchecked token is
// never accepted.
func (s *Service) authenticate(ctx context.Context, bearer string) (*Viewer, error) {
	c, err := s.tokens.Verify(bearer)
	if err != nil {
		return nil, errTokenInvalid
	}
	denied, err := s.deny.Denied(ctx, c)
	if err != nil {
		return nil, errDenyUnavailable(err)
	}
	if denied {
		return nil, errTokenInvalid
	}
	role := user.Role(c.Role)
	if user.RoleValidator(role) != nil {
		return nil, errTokenInvalid
	}
	v := &Viewer{
		UserID:    uuid.MustParse(c.Subject),
		SessionID: uuid.MustParse(c.SessionID),
		Role:      role,
		Claims:    c,
	}
	if err := s.confirmRole(ctx, v); err != nil {
		return nil, err
	}
	return v, nil
}

// IsUnauthenticated reports whether err says the caller is not signed in.
func IsUnauthenticated(err error) bool {
	var e *apierr.Error
	return errors.As(err, &e) && e.Code == apierr.Unauthenticated
}
