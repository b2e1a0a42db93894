package graph

import (
	"context"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/gqlauth/gqlauth/graph/sdl"
)

// HandlerOptions are the settings of the GraphQL handler that the schema
// does not say, and the hooks by which the HTTP layer takes part.
type HandlerOptions struct {
	// Limits bound every document (LimitsFrom reads them from the
	// configuration).
	Limits Limits
	// Introspection answers __schema and __type; without it they are
	// refused as invalid documents.
	Introspection bool
	// AuthRate is the per-client bucket of credential fields
	// (RATE_LIMIT_AUTH); nil means no limit.
	AuthRate ClientLimiter
	// Log receives the errors and panics that clients see only as
	// "internal error".
	Log *slog.Logger

	// AllowOperation, when set, is the transport's rule on which kind of
	// operation the request in ctx may run (GraphQL over HTTP: a GET runs
	// queries only). Its error refuses the document before any other
	// check of the validated document.
	AllowOperation func(ctx context.Context, kind ast.Operation) *gqlerror.Error
	// Report, when set, returns the OperationReport of the request in
	// ctx, which the handler fills in for the access log and the
	// metrics; nil when ctx carries none.
	Report func(ctx context.Context) *OperationReport
}

// NewSchema returns the executable schema of r as clients see it
// (sdl.Public: without gqlgen's directives and @defer), with list fields
// costing their length times their selection.
func NewSchema(r *Resolver) graphql.ExecutableSchema {
	public := sdl.Public(NewExecutableSchema(Config{}).Schema())
	return NewExecutableSchema(Config{Resolvers: r, Complexity: complexity(), Schema: public})
}

// queryCacheSize is how many parsed documents the handler keeps (gqlgen's
// query cache), and how many operation costs complexityLimit keeps.
const queryCacheSize = 1000

// NewHandler returns gqlauth's GraphQL handler over NewSchema(r): an LRU
// query cache, introspection as o says, every document limit, the
// complexity limit and the per-client rate limit of credential fields
// (limits.go, complexity.go, credential.go), the one error presenter and
// panic handler (errors.go), and the operation observer (observe.go).
// It has no transport: the HTTP layer adds the one it serves
// (internal/server) and mounts it.
func NewHandler(r *Resolver, o HandlerOptions) *handler.Server {
	schema := NewSchema(r)
	gql := handler.New(schema)
	gql.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheSize))
	if o.Introspection {
		gql.Use(extension.Introspection{})
	}
	applyLimits(gql, schema.Schema(), o)
	if r.MFA != nil {
		gql.AroundFields(requireAssurance(assuranceFieldsOf(schema.Schema()), r.MFA.Requirement))
	}
	gql.SetErrorPresenter(ErrorPresenter(o.Log))
	gql.SetRecoverFunc(RecoverFunc(o.Log))
	gql.Use(operationObserver{report: o.Report})
	return gql
}

// SDL is the schema as clients read it: the bytes of the committed
// graph/schema.graphql (a test checks), which internal/server serves at
// /schema.graphql.
func SDL() []byte {
	return sdl.Format(NewExecutableSchema(Config{}).Schema())
}
