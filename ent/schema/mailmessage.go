package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/gqlauth/gqlauth/ent/schema/gql"
)

// MailMessage is one email in the outbox (internal/mail). A flow writes it
// in the same transaction as the one-time token it carries, and a worker
// delivers it afterwards with retries, so that no request waits on SMTP
// and a restart loses nothing. Its bodies hold one-time codes and links:
// they are Sensitive, never reach GraphQL, and are erased once the
// message is sent or has failed for good.
type MailMessage struct{ ent.Schema }

// MaxMailErrorBytes bounds the stored text of a delivery error.
const MaxMailErrorBytes = 1000

// Mixin of the MailMessage.
func (MailMessage) Mixin() []ent.Mixin {
	return []ent.Mixin{IDMixin{}}
}

// Fields of the MailMessage.
func (MailMessage) Fields() []ent.Field {
	return []ent.Field{
		field.String("kind").
			NotEmpty().
			MaxLen(64).
			Immutable().
			Comment("Which template it was written from (verify_email, password_reset, …)."),
		field.String("recipient").
			NotEmpty().
			MaxLen(MaxEmailBytes).
			Immutable().
			Comment("The address it goes to."),
		field.String("subject").
			MaxLen(998).
			Immutable().
			Comment("The Subject header, rendered."),
		field.Text("text_body").
			Sensitive().
			Comment("The text/plain part; erased once sent or failed."),
		field.Text("html_body").
			Sensitive().
			Comment("The text/html part; erased once sent or failed."),
		field.String("message_id").
			NotEmpty().
			Unique().
			Immutable().
			Comment("The Message-ID header, fixed at enqueue so that every attempt sends the same one."),
		field.Enum("state").
			Values("pending", "sent", "failed").
			Default("pending").
			Comment("pending until delivered (sent) or given up on (failed)."),
		field.Int("attempts").
			Default(0).
			NonNegative().
			Comment("Delivery attempts started so far."),
		field.String("last_error").
			Optional().Nillable().
			MaxLen(MaxMailErrorBytes).
			Comment("Why the last attempt failed."),
		field.Time("next_attempt_at").
			Comment("When a worker may next try it: due now, after a backoff, or after the lease of a worker that claimed it."),
		field.Time("created_at").
			Immutable().
			Comment("When it was enqueued; also its Date header."),
		field.Time("sent_at").
			Optional().Nillable().
			Comment("When the SMTP server accepted it."),
	}
}

// Indexes of the MailMessage: the worker's scan for due messages, and
// housekeeping's for old ones.
func (MailMessage) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("state", "next_attempt_at"),
		index.Fields("created_at"),
	}
}

// Annotations of the MailMessage: no GraphQL at all.
func (MailMessage) Annotations() []schema.Annotation {
	return []schema.Annotation{
		gql.Skip(gql.SkipAll),
	}
}
