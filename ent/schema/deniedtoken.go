package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"github.com/gqlauth/gqlauth/ent/schema/gql"
)

// DeniedToken is a denial of access tokens that outlive no session
// revocation: one token by its jti (a logout), or every token of a user
// issued before a moment (a global logout, a password change or reset, a
// deleted account). With the sessions' revoked_at it is the source of
// truth of the deny list: Redis holds an index of it that gqlauth rebuilds
// from here when Redis loses data (internal/token). A row matters only
// while a token it denies can still be valid, until expires_at;
// housekeeping deletes it after. It has no foreign key: a deleted
// account's denial must outlive the account.
type DeniedToken struct{ ent.Schema }

// Mixin of the DeniedToken.
func (DeniedToken) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the DeniedToken.
func (DeniedToken) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}).
			Immutable().
			Comment("The user whose tokens are denied (no foreign key: it outlives the account)."),
		field.String("jti").
			Optional().
			MaxLen(128).
			Immutable().
			Comment("The one access token denied; empty for a denial of every token issued before issued_before."),
		field.Time("issued_before").
			Optional().Nillable().
			Immutable().
			Comment("Every access token of the user issued before this moment is denied; null for a single-token denial."),
		field.Time("expires_at").
			Immutable().
			Comment("When no token it denies can be valid any more; housekeeping deletes it after."),
	}
}

// Indexes of the DeniedToken: the live denials, for the rebuild and for
// housekeeping.
func (DeniedToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("expires_at"),
	}
}

// Annotations of the DeniedToken: internal, never in GraphQL.
func (DeniedToken) Annotations() []schema.Annotation {
	return []schema.Annotation{
		gql.Skip(gql.SkipAll),
	}
}
