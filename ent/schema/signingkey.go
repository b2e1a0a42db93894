package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"github.com/gqlauth/gqlauth/ent/schema/gql"
)

// SigningKey is one key that signs or verifies access tokens. Its id is
// the kid every token names; its state says what it may do (see
// internal/token): a standby key is published but does not sign, the one
// current key signs, a previous key still verifies what it signed, a
// revoked key does nothing. The private key is stored encrypted under
// DATA_ENCRYPTION_KEY, and never leaves internal/token.
type SigningKey struct{ ent.Schema }

// Fields of the SigningKey.
func (SigningKey) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).
			Default(NewID).
			Immutable().
			Comment("The key id: the kid header of the tokens it signs and of its JWK."),
		field.Enum("algorithm").
			Values("ES256", "EdDSA", "RS256", "HS256").
			Immutable().
			Comment("The JWS algorithm, the only one its tokens may name."),
		field.Enum("state").
			Values("standby", "current", "previous", "revoked").
			Comment("standby (published, not signing), current (signing; one at most), previous (published, verifying) or revoked."),
		field.Bool("legacy").
			Default(false).
			Immutable().
			Comment("Imported from JWT_ACCESS_SECRET (HS256): never published."),
		field.Text("public_jwk").
			Optional().
			Immutable().
			Comment("The public key as a JWK (RFC 7517), as the JWKS publishes it; empty for HS256."),
		field.Bytes("private_key").
			Sensitive().
			Immutable().
			Comment("The private key (PKCS #8, or the HS256 secret), sealed with AES-256-GCM under DATA_ENCRYPTION_KEY."),
		field.Time("created_at").
			Default(time.Now).
			Immutable().
			Comment("When the key was made: a standby key is published from then on."),
		field.Time("activated_at").
			Optional().Nillable().
			Comment("When the key last became current."),
		field.Time("retired_at").
			Optional().Nillable().
			Comment("When the key last stopped signing (became previous)."),
		field.Time("revoked_at").
			Optional().Nillable().
			Comment("When the key was revoked; null while it is not."),
	}
}

// Indexes of the SigningKey: at most one current key, enforced by the
// database, so that two instances or commands racing cannot both promote one.
func (SigningKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("state").
			Unique().
			StorageKey("signingkey_one_current").
			Annotations(entsql.IndexWhere("state = 'current'")),
	}
}

// Annotations of the SigningKey: not part of the GraphQL schema.
func (SigningKey) Annotations() []schema.Annotation {
	return []schema.Annotation{
		gql.Skip(gql.SkipAll),
	}
}
