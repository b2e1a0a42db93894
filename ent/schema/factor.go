package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// Factor is a second factor of a user: a TOTP authenticator app today.
// Its secret is sealed under DATA_ENCRYPTION_KEY and never leaves
// internal/authn/totp; last_step is the replay guard.
type Factor struct{ ent.Schema }

// Mixin of the Factor.
func (Factor) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the Factor.
func (Factor) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}).
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("type").
			Values("TOTP").
			Immutable().
			Comment("What kind of factor it is."),
		field.String("friendly_name").
			Optional().Nillable().
			MaxLen(100).
			Comment("A name the user gave it, to tell factors apart."),
		field.Enum("status").
			Values("UNVERIFIED", "VERIFIED").
			Default("UNVERIFIED").
			Comment("UNVERIFIED until the first correct code, then VERIFIED: only verified factors sign in."),
		field.Bytes("secret").
			Sensitive().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The TOTP secret, sealed with AES-256-GCM under DATA_ENCRYPTION_KEY."),
		field.Int64("last_step").
			Default(0).
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The last accepted TOTP time step: a code of that step or an earlier one is refused."),
		field.Time("created_at").
			Immutable().
			Comment("When it was enrolled."),
		field.Time("last_used_at").
			Optional().Nillable().
			Comment("When a code of it was last accepted."),
	}
}

// Edges of the Factor.
func (Factor) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("factors").
			Field("user_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Factor.
func (Factor) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "status"),
		index.Fields("status", "created_at"),
	}
}

// Annotations of the Factor: a GraphQL type (a Node), with no filters,
// orderings or generated mutations.
func (Factor) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A second factor of the signed-in user: an authenticator app (TOTP). Its secret is never shown again after enrollment."),
		entgql.Skip(entgql.SkipOrderField, entgql.SkipWhereInput,
			entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// RecoveryCode is one of a user's recovery codes: a single-use second
// factor for when the authenticator is lost. Only its hash is stored.
type RecoveryCode struct{ ent.Schema }

// Mixin of the RecoveryCode.
func (RecoveryCode) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the RecoveryCode.
func (RecoveryCode) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}).
			Immutable(),
		field.Bytes("code_hash").
			Sensitive().
			Immutable().
			Unique().
			Comment("SHA-256 of the normalized code (each has at least 80 random bits)."),
		field.Time("created_at").
			Immutable().
			Comment("When the set it belongs to was made."),
		field.Time("used_at").
			Optional().Nillable().
			Comment("When it was used; a used code never works again."),
	}
}

// Edges of the RecoveryCode.
func (RecoveryCode) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("recovery_codes").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the RecoveryCode.
func (RecoveryCode) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id")}
}

// Annotations of the RecoveryCode: not part of the GraphQL schema.
func (RecoveryCode) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
