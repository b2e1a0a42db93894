// Package graph is gqlauth's GraphQL layer. Resolvers translate GraphQL
// arguments into calls on the services in internal/ and their results
// back; rules live in the services, not here. NewHandler builds the
// executable schema and the GraphQL handler around them: document limits,
// complexity, the @credential rate limit, the error presenter and the
// operation observer; internal/server adds the HTTP transport and mounts it.
package graph

//go:generate go run github.com/99designs/gqlgen generate

// This file will not be regenerated automatically.
//
// It serves as dependency injection for your app, add any dependencies you require here.

import (
	"github.com/99designs/gqlgen/graphql"

	"github.com/gqlauth/gqlauth/graph/model"
	"github.com/gqlauth/gqlauth/internal/auth"
)

// Resolver holds the services the resolvers call.
type Resolver struct {
	Auth *auth.Service
	// RefreshTokenInBody fills AuthPayload.refreshToken; off for
	// deployments that keep the refresh token in its HttpOnly cookie only.
	RefreshTokenInBody bool
}

// payload turns a session into the GraphQL AuthPayload.
func (r *Resolver) payload(s *auth.Session, err error) (*model.AuthPayload, error) {
	if err != nil {
		return nil, err
	}
	p := &model.AuthPayload{
		AccessToken: s.AccessToken,
		TokenType:   "Bearer",
		ExpiresIn:   s.ExpiresIn,
		User:        s.User,
	}
	if r.RefreshTokenInBody {
		p.RefreshToken = &s.RefreshToken
	}
	return p, nil
}

// change turns an optional GraphQL input field into a partial-update
// field: given at all (even as null) means Set.
func change[T any](o graphql.Omittable[*T]) auth.Change[T] {
	return auth.Change[T]{Set: o.IsSet(), Value: o.Value()}
}
