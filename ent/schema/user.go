package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// User is an account that can sign in with its email or its username.
// Validation and normalisation (trimmed, lower-cased email; the
// case-folded username key) happen in internal/auth, the one place that
// creates and edits users; the database enforces uniqueness.
type User struct{ ent.Schema }

// Mixin of the User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").
			Optional().Nillable().Unique().
			MaxLen(254).
			Comment("Email address, trimmed and lower-cased.").
			Annotations(entgql.OrderField("EMAIL")),
		field.String("username").
			Optional().Nillable().
			MaxLen(32).
			Comment("Username as the user typed it.").
			Annotations(entgql.OrderField("USERNAME")),
		field.String("username_key").
			Optional().Nillable().Unique().
			MaxLen(32).
			Comment("Lower-cased username: makes usernames unique regardless of case.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("password_hash").
			Sensitive().
			NotEmpty().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("first_name").
			Optional().Nillable().
			MaxLen(100).
			Comment("Given name, up to 100 characters."),
		field.String("last_name").
			Optional().Nillable().
			MaxLen(100).
			Comment("Family name, up to 100 characters."),
		field.Int("age").
			Optional().Nillable().
			Range(0, 150).
			Comment("Age in years, 0 to 150."),
		field.Enum("role").
			Values("USER", "ADMIN").
			Default("USER").
			Comment("What the user may do: ADMIN manages other accounts.").
			Annotations(entgql.Type("Role")),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("refresh_tokens", RefreshToken.Type).
			Annotations(
				entsql.OnDelete(entsql.Cascade),
				entgql.Skip(entgql.SkipAll),
			),
	}
}

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		// The description of the GraphQL type (ent/entc.go copies it).
		schema.Comment("An account: it signs in with its email or its username and a password."),
		entgql.RelayConnection(),
		entgql.QueryField("users").Description("Every account, a page at a time, in the order and with the filter given. ADMIN only."),
	}
}
