// Package authn authenticates: it turns a bearer access token into the
// request's viewer, checks passwords (bcrypt, with the per-account
// lockout) and signs people in. What a viewer may do is internal/policy's
// question; sessions are internal/session's.
package authn

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/token"
)

// Authenticator checks bearer access tokens.
type Authenticator struct {
	db     *ent.Client
	tokens *token.Issuer
	deny   token.DenyList
}

// NewAuthenticator returns an Authenticator that verifies tokens with
// tokens, refuses those deny lists, and confirms admin roles in db.
func NewAuthenticator(db *ent.Client, tokens *token.Issuer, deny token.DenyList) *Authenticator {
	return &Authenticator{db: db, tokens: tokens, deny: deny}
}

// errTokenInvalid is the answer for any access token that is malformed,
// expired, wrongly signed or denied.
var errTokenInvalid = apierr.New(apierr.Unauthenticated, "invalid or expired access token")

// Lazy returns the policy.Authenticate of a request that carries bearer
// ("" for none): it runs only when a service first asks for the viewer.
func (a *Authenticator) Lazy(bearer string) policy.Authenticate {
	return func(ctx context.Context) (*policy.Viewer, error) {
		if bearer == "" {
			return nil, nil
		}
		return a.Authenticate(ctx, bearer)
	}
}

// Authenticate verifies an access token and checks the deny list. When
// the deny list cannot answer, it fails closed (SERVICE_UNAVAILABLE): an
// unchecked token is never accepted.
func (a *Authenticator) Authenticate(ctx context.Context, bearer string) (*policy.Viewer, error) {
	c, err := a.tokens.Verify(bearer)
	if err != nil {
		return nil, errTokenInvalid
	}
	denied, err := a.deny.Denied(ctx, c)
	if err != nil {
		return nil, apierr.Wrap(apierr.ServiceUnavailable, "the session store is unavailable; try again shortly", err)
	}
	if denied {
		return nil, errTokenInvalid
	}
	role := user.Role(c.Role)
	if user.RoleValidator(role) != nil {
		return nil, errTokenInvalid
	}
	v := &policy.Viewer{
		UserID:    uuid.MustParse(c.Subject),
		SessionID: uuid.MustParse(c.SessionID),
		Role:      role,
		Claims:    c,
	}
	if err := a.confirmRole(ctx, v); err != nil {
		return nil, err
	}
	return v, nil
}

// confirmRole re-reads from the database the role of a viewer whose
// access token says ADMIN. An access token lives for
// JWT_ACCESS_EXPIRES_IN and its role claim could be that stale;
// re-reading it means a demoted (or deleted) admin loses every admin power
// at once, at the price of one primary-key read per authenticated admin
// request. Ordinary users pay nothing: a promotion takes effect with the
// next access token (the next refresh), a demotion of an admin at once.
func (a *Authenticator) confirmRole(ctx context.Context, v *policy.Viewer) error {
	if v.Role != user.RoleADMIN {
		return nil
	}
	u, err := a.db.User.Query().Where(user.ID(v.UserID)).Select(user.FieldRole).Only(ctx)
	if ent.IsNotFound(err) {
		return errTokenInvalid
	}
	if err != nil {
		return fmt.Errorf("read role: %w", err)
	}
	v.Role = u.Role
	return nil
}
