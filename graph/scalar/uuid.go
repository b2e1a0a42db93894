// Package scalar holds gqlauth's GraphQL scalar marshallers.
package scalar

import (
	"fmt"
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apierr"
)

// MarshalUUID writes a UUID as a GraphQL ID string.
func MarshalUUID(id uuid.UUID) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(id.String()))
	})
}

// UnmarshalUUID reads a GraphQL ID. A malformed one is the client's
// mistake (BAD_USER_INPUT), not an internal error.
func UnmarshalUUID(v any) (uuid.UUID, error) {
	s, ok := v.(string)
	if !ok {
		return uuid.Nil, apierr.New(apierr.BadUserInput, fmt.Sprintf("an ID must be a string, got %T", v))
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, apierr.New(apierr.BadUserInput, "not a valid ID")
	}
	return id, nil
}
