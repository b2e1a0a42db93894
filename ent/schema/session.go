package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"github.com/gqlauth/gqlauth/ent/schema/gql"
)

// Session is one sign-in of a user: the record its refresh tokens hang
// off, and the one row to lock when it rotates or ends. Its id is the
// access tokens' sid claim. internal/session is the one place that
// writes it.
type Session struct{ ent.Schema }

// Mixin of the Session.
func (Session) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the Session.
func (Session) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}).
			Immutable().
			Annotations(gql.Skip(gql.SkipAll)),
		field.Time("created_at").
			Immutable().
			Comment("When the session signed in."),
		field.Time("last_seen_at").
			Comment("When the session last signed in or refreshed, to within a minute: a refresh moves it once it is a minute behind."),
		field.Time("expires_at").
			Comment("When the session ends however often it refreshes (SESSION_MAX_LIFETIME from sign-in)."),
		field.Time("revoked_at").
			Optional().Nillable().
			Comment("When the session was ended; null while it is not."),
		field.String("revoked_reason").
			Optional().Nillable().
			Comment("Why it was ended: logout, revoked, reuse_detected, password_changed or user_deleted."),
		field.String("user_agent").
			Optional().Nillable().
			MaxLen(512).
			Comment("The User-Agent of the client that signed in."),
		field.String("ip").
			Optional().Nillable().
			MaxLen(64).
			Comment("The address of the client that signed in."),
		field.Int("aal").
			Default(1).
			Range(1, 3).
			Comment("The authenticator assurance level the session reached (NIST SP 800-63B): 1 for a password.").
			Annotations(gql.Skip(gql.SkipAll)),
		field.Strings("amr").
			Optional().
			Comment("The authentication methods used (RFC 8176 values such as pwd, otp, hwk).").
			Annotations(gql.Skip(gql.SkipAll)),
		field.Time("auth_time").
			Optional().Nillable().
			Comment("When the person last proved who they are (sign-in, step-up, re-authentication); null on sessions older than the column, which count from created_at.").
			Annotations(gql.Skip(gql.SkipAll)),
	}
}

// Edges of the Session.
func (Session) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("sessions").
			Field("user_id").
			Unique().
			Required().
			Immutable().
			Annotations(gql.Skip(gql.SkipAll)),
		edge.To("refresh_tokens", RefreshToken.Type).
			Annotations(
				entsql.OnDelete(entsql.Cascade),
				gql.Skip(gql.SkipAll),
			),
	}
}

// Indexes of the Session.
func (Session) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "last_seen_at"),
		index.Fields("expires_at"),
		// The deny list's rebuild reads the sessions revoked within one
		// access-token lifetime (internal/token).
		index.Fields("revoked_at"),
	}
}

// Annotations of the Session: a GraphQL type (a Node, so node(id) reaches
// it), with no filters, orderings or generated mutations.
func (Session) Annotations() []schema.Annotation {
	return []schema.Annotation{
		// The description of the GraphQL type (ent/entc.go copies it).
		schema.Comment("One sign-in of a user, on one device: it lives while its refresh tokens rotate, and ends at logout, revocation or its expiry."),
		gql.Skip(gql.SkipEnumField, gql.SkipOrderField, gql.SkipWhereInput,
			gql.SkipMutationCreateInput, gql.SkipMutationUpdateInput),
	}
}
