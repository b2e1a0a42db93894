package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
	"github.com/google/uuid"
	"github.com/gqlauth/gqlauth/ent/schema/gql"
)

// IDMixin gives an entity a UUIDv7 primary key. Version 7 keys grow with
// time, so PostgreSQL's B-tree indexes take inserts at their right edge
// instead of splitting pages at random.
type IDMixin struct{ mixin.Schema }

// Fields of the IDMixin.
func (IDMixin) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).
			Default(NewID).
			Immutable().
			Comment("The id: a UUID, unique across every type (node(id) finds it)."),
	}
}

// NewID returns a new time-ordered UUID (version 7).
func NewID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// TimeMixin records when a row was created and last changed.
type TimeMixin struct{ mixin.Schema }

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").
			Default(time.Now).
			Immutable().
			Comment("When it was created.").
			Annotations(gql.OrderField("CREATED_AT")),
		field.Time("updated_at").
			Default(time.Now).
			UpdateDefault(time.Now).
			Comment("When it last changed."),
	}
}
