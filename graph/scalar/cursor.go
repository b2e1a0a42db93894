package scalar

import (
	"io"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/gqlauth/gqlauth/ent/relay"

	"github.com/gqlauth/gqlauth/internal/apierr"
)

// Cursor is the Relay cursor of the users connection.
type Cursor = relay.Cursor[uuid.UUID]

// MarshalCursor writes a connection cursor.
func MarshalCursor(c Cursor) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { c.MarshalGQL(w) })
}

// UnmarshalCursor reads a connection cursor; a corrupt one is the
// client's mistake (BAD_USER_INPUT).
func UnmarshalCursor(v any) (Cursor, error) {
	var c Cursor
	if err := c.UnmarshalGQL(v); err != nil {
		return c, apierr.New(apierr.BadUserInput, "not a valid cursor")
	}
	return c, nil
}
