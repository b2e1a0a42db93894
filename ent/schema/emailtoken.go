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

// EmailToken is one request of an email flow (verify an address, reset a
// password, change the address): the link token and the 6-digit code
// that one mail carries. Only their SHA-256 hashes are stored. It works
// once, until it expires, fails too many codes, or is voided by a newer
// request of the same kind or by a password change (internal/authn/emailcode).
type EmailToken struct{ ent.Schema }

// Mixin of the EmailToken.
func (EmailToken) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the EmailToken.
func (EmailToken) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}).
			Immutable().
			Comment("The account the request is for."),
		field.Enum("kind").
			Values("verify_email", "password_reset", "email_change").
			Immutable().
			Comment("The flow it belongs to."),
		field.String("email").
			NotEmpty().
			MaxLen(MaxEmailBytes).
			Immutable().
			Comment("The address the mail went to: the account's, or the new one of an email change."),
		field.Bytes("token_hash").
			Sensitive().
			Unique().
			Immutable().
			Comment("SHA-256 of the link token."),
		field.Bytes("code_hash").
			Sensitive().
			Immutable().
			Comment("SHA-256 of the request's id and its 6-digit code."),
		field.Int("failed_codes").
			Default(0).
			NonNegative().
			Comment("Wrong codes tried; at the limit the request is void."),
		field.Time("created_at").
			Immutable().
			Comment("When it was issued."),
		field.Time("expires_at").
			Immutable().
			Comment("When it stops working."),
		field.Time("spent_at").
			Optional().Nillable().
			Comment("When it was used; null while it was not."),
		field.Time("voided_at").
			Optional().Nillable().
			Comment("When it was voided (a newer request, a password change, too many wrong codes)."),
	}
}

// Edges of the EmailToken.
func (EmailToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("email_tokens").
			Field("user_id").
			Unique().
			Required().
			Immutable(),
	}
}

// Indexes of the EmailToken: a user's live requests of a kind.
func (EmailToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "kind"),
		index.Fields("expires_at"),
	}
}

// Annotations of the EmailToken: no GraphQL at all.
func (EmailToken) Annotations() []schema.Annotation {
	return []schema.Annotation{
		gql.Skip(gql.SkipAll),
	}
}
