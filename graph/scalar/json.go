package scalar

import (
	"context"
	"fmt"
	"io"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gqlauth/gqlauth/internal/apierr"
)

// MarshalJSON writes a JSON object (the JSON scalar).
func MarshalJSON(m map[string]any) graphql.ContextMarshaler {
	return graphql.ContextWriterFunc(func(_ context.Context, w io.Writer) error {
		graphql.MarshalMap(m).MarshalGQL(w)
		return nil
	})
}

// UnmarshalJSON reads the JSON scalar, which gqlauth takes only as an
// object (a WebAuthn answer). Any other value is the client's mistake:
// BAD_USER_INPUT naming the argument, not an internal error.
func UnmarshalJSON(ctx context.Context, v any) (map[string]any, error) {
	if m, ok := v.(map[string]any); ok {
		return m, nil
	}
	name := "input"
	if p := graphql.GetPath(ctx); len(p) > 0 {
		if n, ok := p[len(p)-1].(ast.PathName); ok {
			name = string(n)
		}
	}
	return nil, &apierr.Error{Code: apierr.BadUserInput, Message: fmt.Sprintf("%s must be a JSON object", name),
		Fields: map[string]string{name: "must be a JSON object"}}
}
