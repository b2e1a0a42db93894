package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"github.com/gqlauth/gqlauth/ent/schema/gql"
)

// RefreshToken is one long-lived token of a session. Only its SHA-256 is
// stored; the token itself exists only in the client's hands. Every token
// belongs to one Session: rotating a token revokes it and stores its
// successor in the same session.
type RefreshToken struct{ ent.Schema }

// Mixin of the RefreshToken.
func (RefreshToken) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the RefreshToken.
func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}).
			Immutable().
			Annotations(gql.Skip(gql.SkipAll)),
		field.Bytes("token_hash").
			Sensitive().
			Unique().
			Immutable().
			Annotations(gql.Skip(gql.SkipAll)),
		field.UUID("session_id", uuid.UUID{}).
			Immutable().
			Comment("The session (one sign-in) the token belongs to; rotation keeps it.").
			Annotations(gql.Type("ID"), gql.MapsTo("sessionId")),
		field.Time("created_at").
			Immutable().
			Comment("When the token was issued."),
		field.Time("expires_at").
			Immutable().
			Comment("When the token stops working, unless revoked before."),
		field.Time("last_used_at").
			Optional().Nillable().
			Comment("When the token was last presented for a refresh."),
		field.Time("revoked_at").
			Optional().Nillable().
			Comment("When the token was revoked; null while it is not."),
		field.String("revoked_reason").
			Optional().Nillable().
			Comment("Why it was revoked: rotated, logout, revoked, reuse_detected or password_changed."),
		field.UUID("replaced_by", uuid.UUID{}).
			Optional().Nillable().
			Comment("The id of the token that replaced this one at rotation.").
			Annotations(gql.Type("ID")),
		field.Bytes("sealed_successor").
			Optional().
			Sensitive().
			Annotations(gql.Skip(gql.SkipAll)).
			Comment("The successor token, encrypted with a key only the holder of this token can derive (see internal/session/seal.go)."),
		field.String("user_agent").
			Optional().Nillable().
			MaxLen(512).
			Comment("The User-Agent of the client the token was issued to."),
		field.String("ip").
			Optional().Nillable().
			MaxLen(64).
			Comment("The address of the client the token was issued to."),
	}
}

// Edges of the RefreshToken.
func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("refresh_tokens").
			Field("user_id").
			Unique().
			Required().
			Immutable().
			Annotations(gql.Skip(gql.SkipAll)),
		edge.From("session", Session.Type).
			Ref("refresh_tokens").
			Field("session_id").
			Unique().
			Required().
			Immutable().
			Annotations(gql.Skip(gql.SkipAll)),
	}
}

// Indexes of the RefreshToken.
func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("session_id"),
		index.Fields("user_id", "created_at"),
		index.Fields("expires_at"),
	}
}

// Annotations of the RefreshToken: a GraphQL type (a Node, so node(id)
// reaches it), with no filters, orderings or generated mutations.
func (RefreshToken) Annotations() []schema.Annotation {
	return []schema.Annotation{
		// The description of the GraphQL type (ent/entc.go copies it).
		schema.Comment("One refresh token of a session. Its value is never shown, only its metadata."),
		gql.Skip(gql.SkipEnumField, gql.SkipOrderField, gql.SkipWhereInput,
			gql.SkipMutationCreateInput, gql.SkipMutationUpdateInput),
	}
}
