package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"github.com/gqlauth/gqlauth/ent/schema/gql"
)

// AuditEvent is one security-relevant fact: who signed in from where,
// which session was ended by whom, which role changed. Rows are appended
// by internal/audit, in the transaction of the change they record, and
// never updated; only retention (AUDIT_RETENTION) deletes them. The user
// and session ids are plain columns, not foreign keys, so that the trail
// outlives a deleted account. Details never hold a secret.
type AuditEvent struct{ ent.Schema }

// Mixin of the AuditEvent: a UUIDv7 id, so that ids order events by time
// and page them with a keyset.
func (AuditEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the AuditEvent.
func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Time("occurred_at").
			Immutable().
			Comment("When it happened."),
		field.String("type").
			Immutable().
			MaxLen(64).
			Comment("What happened, e.g. user.signed_in or session.revoked (docs/audit.md lists them)."),
		field.String("actor").
			Immutable().
			MaxLen(64).
			Comment("Who did it: a user id, system (gqlauth itself) or cli (the operator's command line)."),
		field.UUID("user_id", uuid.UUID{}).
			Optional().Nillable().
			Immutable().
			Comment("The user it happened to, if any."),
		field.UUID("session_id", uuid.UUID{}).
			Optional().Nillable().
			Immutable().
			Comment("The session it concerns, if any."),
		field.String("ip").
			Optional().Nillable().
			Immutable().
			MaxLen(64).
			Comment("The client address of the request."),
		field.String("user_agent").
			Optional().Nillable().
			Immutable().
			MaxLen(512).
			Comment("The User-Agent of the request."),
		field.String("request_id").
			Optional().Nillable().
			Immutable().
			MaxLen(128).
			Comment("The id of the request, as in its access log line (X-Request-ID)."),
		field.JSON("details", map[string]any{}).
			Optional().
			Immutable().
			Comment("A few facts about the event (a reason, a scope, the fields changed); never a secret."),
	}
}

// Indexes of the AuditEvent: a user's events and one type's events, in
// id (time) order; the time for retention.
func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "id"),
		index.Fields("type", "id"),
		index.Fields("occurred_at"),
	}
}

// Annotations of the AuditEvent: no generated GraphQL; graph/schema/audit.graphqls
// describes it by hand (the connection counts only when asked).
func (AuditEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		gql.Skip(gql.SkipAll),
	}
}
