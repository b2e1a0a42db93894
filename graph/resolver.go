// Package graph is gqlauth's GraphQL layer. Resolvers translate GraphQL
// arguments into calls on the services in internal/ and their results
// back; rules live in the services, not here. NewHandler builds the
// executable schema and the GraphQL handler around them: document limits,
// complexity, the @credential rate limit, the error presenter and the
// operation observer; internal/server adds the HTTP transport and mounts it.
package graph

//go:generate go run github.com/99designs/gqlgen generate

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/gqlauth/gqlauth/graph/model"
	"github.com/gqlauth/gqlauth/internal/account"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/authn"
	"github.com/gqlauth/gqlauth/internal/live"
	"github.com/gqlauth/gqlauth/internal/request"
	"github.com/gqlauth/gqlauth/internal/session"
)

// This file will not be regenerated automatically.
//
// It serves as dependency injection for your app, add any dependencies you require here.

// Resolver holds the services the resolvers call.
type Resolver struct {
	Accounts *account.Service
	SignIns  *authn.SignIns
	// SessionService is named so because queryResolver.Sessions is the
	// sessions query.
	SessionService *session.Service
	// MFA is second factors, step-up and re-authentication; it also
	// tells the AAL1 allow-list what a request owes (graph/assurance.go).
	MFA *authn.MFA
	// Passkeys is the passkey (WebAuthn) flows.
	Passkeys *authn.Passkeys
	// Audit reads the audit trail (auditEvents, securityActivity).
	Audit *audit.Trail
	// Live streams session events (sessionEvents).
	Live *live.Hub
	// RefreshTokenInBody fills AuthPayload.refreshToken; off for
	// deployments that keep the refresh token in its HttpOnly cookie only.
	RefreshTokenInBody bool
}

// payload turns handed-out tokens into the GraphQL AuthPayload, and asks
// the HTTP layer to put the refresh token in its cookie.
// Use: return r.payload(ctx)(r.SignIns.SignIn(ctx, input)).
func (r *Resolver) payload(ctx context.Context) func(*session.Tokens, error) (*model.AuthPayload, error) {
	return func(t *session.Tokens, err error) (*model.AuthPayload, error) {
		if err != nil {
			return nil, err
		}
		request.From(ctx).SetSessionCookies(t.RefreshToken, t.SessionID, t.RefreshExpires)
		p := &model.AuthPayload{
			AccessToken: t.AccessToken,
			TokenType:   "Bearer",
			ExpiresIn:   t.ExpiresIn,
			User:        t.User,
			Aal:         aal(t.AAL),
		}
		if r.RefreshTokenInBody {
			p.RefreshToken = &t.RefreshToken
		}
		return p, nil
	}
}

// ended answers a mutation that may have ended the caller's own session,
// asking the HTTP layer to clear the session cookies when it did.
// Use: return ended(ctx)(r.SessionService.Logout(ctx, scope, p)).
func ended(ctx context.Context) func(own bool, err error) (bool, error) {
	return func(own bool, err error) (bool, error) {
		if err != nil {
			return false, err
		}
		if own {
			request.From(ctx).ClearSessionCookies()
		}
		return true, nil
	}
}

// presented is the refresh token an operation acts on: the argument when
// given, else the refresh cookie as the HTTP layer checked it.
func presented(ctx context.Context, arg *string) session.Presented {
	if arg != nil && *arg != "" {
		return session.Presented{Token: *arg}
	}
	c := request.From(ctx).RefreshCookie
	if c.Err != nil {
		return session.Presented{Err: c.Err}
	}
	if c.Token == "" {
		return session.Presented{}
	}
	sid := c.Session
	return session.Presented{Token: c.Token, CookieSession: &sid}
}

// change turns an optional GraphQL input field into a partial-update
// field: given at all (even as null) means Set.
func change[T any](o graphql.Omittable[*T]) account.Change[T] {
	return account.Change[T]{Set: o.IsSet(), Value: o.Value()}
}

// aal is the GraphQL assurance level of a session's level number.
func aal(level int) model.AuthenticatorAssuranceLevel {
	if level >= 2 {
		return model.AuthenticatorAssuranceLevelAal2
	}
	return model.AuthenticatorAssuranceLevelAal1
}

// done answers a mutation that returns true once it has succeeded.
func done(err error) (bool, error) {
	return err == nil, err
}
