package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"github.com/gqlauth/gqlauth/ent/schema/gql"
)

// WebhookDelivery is the outbox of the webhooks: one row per audit event
// and endpoint, inserted in the event's transaction, so that an event
// that committed is delivered at least once and one that rolled back
// never is. internal/webhook's worker leases due rows, posts them, and
// marks them delivered, or schedules a retry, or failed.
type WebhookDelivery struct{ ent.Schema }

// Mixin of the WebhookDelivery.
func (WebhookDelivery) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the WebhookDelivery.
func (WebhookDelivery) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("event_id", uuid.UUID{}).
			Immutable().
			Comment("The audit event delivered; its id is the webhook-id header."),
		field.String("endpoint").
			Immutable().
			Comment("The URL posted to (one of WEBHOOK_URLS)."),
		field.String("ordering_key").
			Immutable().
			MaxLen(64).
			Comment("Deliveries with the same key and endpoint go out in id order (the user's id, else the event's)."),
		field.Bytes("payload").
			Immutable().
			Comment("The event as delivered (JSON), rendered when the event was recorded."),
		field.Time("created_at").
			Immutable(),
		field.Enum("status").
			Values("pending", "delivered", "failed").
			Default("pending"),
		field.Int("attempts").
			Default(0),
		field.Time("next_attempt_at").
			Comment("When the worker may try it next."),
		field.Time("leased_until").
			Optional().Nillable().
			Comment("While set and in the future, one worker is posting it and no other may."),
		field.Time("delivered_at").
			Optional().Nillable(),
		field.String("last_error").
			Optional().Nillable().
			MaxLen(512),
	}
}

// Indexes of the WebhookDelivery.
func (WebhookDelivery) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("status", "next_attempt_at"),
		index.Fields("endpoint", "ordering_key", "status", "id"),
		index.Fields("created_at"),
	}
}

// Annotations of the WebhookDelivery: not part of the GraphQL API.
func (WebhookDelivery) Annotations() []schema.Annotation {
	return []schema.Annotation{
		gql.Skip(gql.SkipAll),
	}
}
