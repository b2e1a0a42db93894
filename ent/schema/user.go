package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"github.com/gqlauth/gqlauth/ent/schema/gql"
)

// User is an account that can sign in with its email or its username.
// Validation and normalisation (trimmed, lower-cased email; the
// case-folded username key) happen in internal/account, the one place that
// creates and edits users; the database enforces uniqueness.
type User struct{ ent.Schema }

// Bounds of the User's text fields, each in one unit. internal/validate checks
// input against them (the check a client sees, as BAD_USER_INPUT naming
// the field); the columns and ent's validators below use the same numbers
// in the same unit, so that nothing validation accepts can fail in the
// database.
const (
	// MaxEmailBytes bounds an email address in bytes (RFC 5321's path limit).
	MaxEmailBytes = 254
	// MaxUsernameChars bounds a username; usernames are ASCII, so this is
	// also their size in bytes.
	MaxUsernameChars = 32
	// MaxNameChars bounds a first or last name in characters (Unicode code
	// points), the unit people count in; PostgreSQL's varchar(n) counts
	// characters too.
	MaxNameChars = 100
)

// Mixin of the User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}, TimeMixin{}}
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").
			Optional().Nillable().Unique().
			MaxLen(MaxEmailBytes).
			Comment("Email address, trimmed and lower-cased.").
			Annotations(gql.OrderField("EMAIL")),
		field.Time("email_verified_at").
			Optional().Nillable().
			Comment("When the person proved they read mail at the current email address; null while unproven. An email change confirmed by a code keeps it set; a change without one clears it."),
		field.String("username").
			Optional().Nillable().
			MaxLen(MaxUsernameChars).
			Comment("Username as the user typed it.").
			Annotations(gql.OrderField("USERNAME")),
		field.String("username_key").
			Optional().Nillable().Unique().
			MaxLen(MaxUsernameChars).
			Comment("Lower-cased username: makes usernames unique regardless of case.").
			Annotations(gql.Skip(gql.SkipAll)),
		field.String("password_hash").
			Sensitive().
			NotEmpty().
			Annotations(gql.Skip(gql.SkipAll)),
		field.String("first_name").
			Optional().Nillable().
			MaxRuneLen(MaxNameChars).
			Comment("Given name, up to 100 characters."),
		field.String("last_name").
			Optional().Nillable().
			MaxRuneLen(MaxNameChars).
			Comment("Family name, up to 100 characters."),
		field.Int("age").
			Optional().Nillable().
			Range(0, 150).
			Comment("Age in years, 0 to 150."),
		field.Enum("role").
			Values("USER", "ADMIN").
			Default("USER").
			Comment("What the user may do: ADMIN manages other accounts.").
			Annotations(gql.Type("Role")),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("refresh_tokens", RefreshToken.Type).
			Annotations(
				entsql.OnDelete(entsql.Cascade),
				gql.Skip(gql.SkipAll),
			),
		edge.To("email_tokens", EmailToken.Type).
			Annotations(
				entsql.OnDelete(entsql.Cascade),
				gql.Skip(gql.SkipAll),
			),
		edge.To("sessions", Session.Type).
			Annotations(
				entsql.OnDelete(entsql.Cascade),
				gql.Skip(gql.SkipAll),
			),
		edge.To("factors", Factor.Type).
			Annotations(
				entsql.OnDelete(entsql.Cascade),
				gql.Skip(gql.SkipAll),
			),
		edge.To("recovery_codes", RecoveryCode.Type).
			Annotations(
				entsql.OnDelete(entsql.Cascade),
				gql.Skip(gql.SkipAll),
			),
	}
}

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		// The description of the GraphQL type (ent/entc.go copies it).
		schema.Comment("An account: it signs in with its email or its username and a password."),
		gql.RelayConnection(),
		gql.QueryField("users").Description("Every account, a page at a time, in the order and with the filter given. ADMIN only."),
	}
}
