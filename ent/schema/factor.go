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

// Factor is a second factor of a user: a TOTP authenticator app or a
// passkey (a WebAuthn credential). A TOTP secret is sealed under
// DATA_ENCRYPTION_KEY and never leaves internal/authn/totp; last_step is
// its replay guard. A passkey keeps its credential id (unique across
// users), public key, signature counter and flags (internal/authn/passkey).
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
			Annotations(gql.Skip(gql.SkipAll)),
		field.Enum("type").
			Values("TOTP", "PASSKEY").
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
			Optional().
			Annotations(gql.Skip(gql.SkipAll)).
			Comment("The TOTP secret, sealed with AES-256-GCM under DATA_ENCRYPTION_KEY; empty for a passkey."),
		field.Int64("last_step").
			Default(0).
			Annotations(gql.Skip(gql.SkipAll)).
			Comment("The last accepted TOTP time step: a code of that step or an earlier one is refused."),
		field.Bytes("credential_id").
			Optional().Nillable().
			Immutable().
			Unique().
			MaxLen(1023).
			Annotations(gql.Skip(gql.SkipAll)).
			Comment("A passkey's WebAuthn credential id, unique across users (shown as credentialId, base64url)."),
		field.Bytes("public_key").
			Optional().
			Immutable().
			Annotations(gql.Skip(gql.SkipAll)).
			Comment("A passkey's public key (COSE): not a secret, but of no use to clients."),
		field.Int64("sign_count").
			Default(0).
			Annotations(gql.Skip(gql.SkipAll)).
			Comment("A passkey's last signature counter; 0 when the authenticator keeps none."),
		field.Bytes("aaguid").
			Optional().
			Immutable().
			Annotations(gql.Skip(gql.SkipAll)).
			Comment("The AAGUID of the passkey's authenticator model (zeros when it keeps it private)."),
		field.Strings("transports").
			Optional().
			Annotations(gql.Skip(gql.SkipAll)).
			Comment("How the browser reaches the passkey's authenticator (internal, hybrid, usb, …), passed back in allowCredentials."),
		field.String("attestation_type").
			Optional().
			Immutable().
			Annotations(gql.Skip(gql.SkipAll)).
			Comment("The attestation format the passkey was made with (none, packed, …)."),
		field.Bool("backup_eligible").
			Default(false).
			Immutable().
			Comment("A passkey that may be synced to other devices (WebAuthn BE flag); false for TOTP."),
		field.Bool("backed_up").
			Default(false).
			Comment("A passkey that is synced now (WebAuthn BS flag, as of its last use); false for TOTP."),
		field.Time("created_at").
			Immutable().
			Comment("When it was enrolled."),
		field.Time("last_used_at").
			Optional().Nillable().
			Comment("When a code or signature of it was last accepted."),
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
			Annotations(gql.Skip(gql.SkipAll)),
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
		schema.Comment("A factor of the signed-in user: an authenticator app (TOTP), whose secret is never shown again after enrollment, or a passkey."),
		gql.Skip(gql.SkipOrderField, gql.SkipWhereInput,
			gql.SkipMutationCreateInput, gql.SkipMutationUpdateInput),
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
	return []schema.Annotation{gql.Skip(gql.SkipAll)}
}
