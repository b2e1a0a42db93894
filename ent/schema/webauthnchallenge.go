package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/gqlauth/gqlauth/ent/schema/gql"
)

// WebauthnChallenge is a passkey ceremony waiting for the browser's
// answer, when there is no Redis to hold it: the challenge and what it is
// bound to (the session that asked to register, or the identifier that
// asked to sign in), single use, until expires_at. Housekeeping deletes
// the expired ones (internal/authn/passkey).
type WebauthnChallenge struct{ ent.Schema }

// Mixin of the WebauthnChallenge.
func (WebauthnChallenge) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the WebauthnChallenge.
func (WebauthnChallenge) Fields() []ent.Field {
	return []ent.Field{
		field.Bytes("data").
			Immutable().
			MaxLen(65536).
			Comment("The ceremony's state (challenge, binding, expiry), JSON."),
		field.Time("expires_at").
			Immutable().
			Comment("When it stops working."),
	}
}

// Indexes of the WebauthnChallenge: housekeeping finds the expired ones.
func (WebauthnChallenge) Indexes() []ent.Index {
	return []ent.Index{index.Fields("expires_at")}
}

// Annotations of the WebauthnChallenge: not part of the GraphQL schema.
func (WebauthnChallenge) Annotations() []schema.Annotation {
	return []schema.Annotation{gql.Skip(gql.SkipAll)}
}
