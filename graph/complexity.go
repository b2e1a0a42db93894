package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/google/uuid"
	"github.com/gqlauth/gqlauth/ent/relay"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/account"
)

// complexityLimit refuses an operation that costs more than limit
// (GRAPHQL_MAX_COMPLEXITY), counted the way the executor will run it.
//
// It replaces gqlgen's extension.FixedComplexityLimit, whose walk expands
// every fragment spread as written: a 1.5 KB document of six fragments,
// each spreading the next 40 times, made it visit 40^6 spreads and held a
// CPU for hours, before any limit answered. The executor collects the
// fields of a selection set with graphql.CollectFields, which takes each
// fragment once and merges fields of one response name; this walk uses the
// same function, so it costs what execution would collect, no more.
//
// An operation that declares no variables costs the same every time it
// runs, so its cost is kept (costs, keyed by the parsed operation, which
// gqlgen's query cache hands out again for the same document).
type complexityLimit struct {
	limit int
	es    graphql.ExecutableSchema
	costs *lru.Cache[*ast.OperationDefinition, int]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = &complexityLimit{}

// ExtensionName implements graphql.HandlerExtension.
func (*complexityLimit) ExtensionName() string { return "GqlauthComplexityLimit" }

// Validate implements graphql.HandlerExtension.
func (c *complexityLimit) Validate(es graphql.ExecutableSchema) error {
	c.es = es
	costs, err := lru.New[*ast.OperationDefinition, int](queryCacheSize)
	c.costs = costs
	return err
}

// MutateOperationContext computes the operation's cost and refuses it
// with COMPLEXITY_LIMIT_EXCEEDED when over the limit.
func (c *complexityLimit) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil {
		return nil
	}
	schema := c.es.Schema()
	var root *ast.Definition
	switch op.Operation.Operation {
	case ast.Mutation:
		root = schema.Mutation
	case ast.Subscription:
		root = schema.Subscription
	default:
		root = schema.Query
	}
	if root == nil {
		return nil
	}
	if cost := c.cost(ctx, op, root); cost > c.limit {
		err := gqlerror.Errorf("operation has complexity %d, which exceeds the limit of %d", cost, c.limit)
		errcode.Set(err, CodeComplexityLimitExceeded)
		return err
	}
	return nil
}

// cost is the operation's cost, from costs when it declares no variables.
func (c *complexityLimit) cost(ctx context.Context, op *graphql.OperationContext, root *ast.Definition) int {
	cacheable := c.costs != nil && len(op.Operation.VariableDefinitions) == 0
	if cacheable {
		if cost, ok := c.costs.Get(op.Operation); ok {
			return cost
		}
	}
	cost := c.selectionCost(ctx, op, op.Operation.SelectionSet, root)
	if cacheable {
		c.costs.Add(op.Operation, cost)
	}
	return cost
}

// selectionCost is the cost of sels on an object of type on: the sum of
// its collected fields' costs, each from the schema's complexity function
// (graph.ComplexityRoot) or 1 plus its children. Introspection is not
// counted: it touches no resolver of gqlauth's.
func (c *complexityLimit) selectionCost(ctx context.Context, op *graphql.OperationContext, sels ast.SelectionSet, on *ast.Definition) int {
	schema := c.es.Schema()
	total := 0
	for _, f := range graphql.CollectFields(op, sels, append([]string{on.Name}, on.Interfaces...)) {
		if isIntrospection(f.Field) || f.Definition == nil {
			continue
		}
		child := 0
		if def := schema.Types[f.Definition.Type.Name()]; def != nil {
			switch def.Kind {
			case ast.Object:
				child = c.selectionCost(ctx, op, f.Selections, def)
			case ast.Interface, ast.Union:
				for _, t := range schema.GetPossibleTypes(def) {
					child = max(child, c.selectionCost(ctx, op, f.Selections, t))
				}
			}
		}
		objectName := on.Name
		if f.ObjectDefinition != nil {
			objectName = f.ObjectDefinition.Name
		}
		cost, ok := c.es.Complexity(ctx, objectName, f.Name, child, f.ArgumentMap(op.Variables))
		if !ok {
			cost = add(child, 1)
		}
		total = add(total, cost)
	}
	return total
}

// listSize is the page a connection returns: first or last, else the
// default; out-of-range values count as the largest page the service
// would serve, since it refuses them anyway.
func listSize(first, last *int, def int) int {
	n := def
	switch {
	case first != nil:
		n = *first
	case last != nil:
		n = *last
	}
	if n < 0 {
		return 0
	}
	return min(n, account.MaxPageSize*10)
}

// assumedSessions is the cost multiplier of refreshTokens, a list
// without paging: a guess at a user's refresh tokens.
const assumedSessions = 10

// complexity makes list fields cost their length times their selection,
// so that FixedComplexityLimit sees a page of 100 users as 100 users.
func complexity() ComplexityRoot {
	var c ComplexityRoot
	c.Query.Users = func(child int, _ *relay.Cursor[uuid.UUID], first *int, _ *relay.Cursor[uuid.UUID], last *int, _ *ent.UserOrder, _ *ent.UserWhereInput) int {
		return 1 + listSize(first, last, account.DefaultPageSize)*child
	}
	c.Query.Nodes = func(child int, ids []uuid.UUID) int {
		return 1 + len(ids)*child
	}
	c.Query.RefreshTokens = func(child int, _ uuid.UUID) int {
		return 1 + assumedSessions*child
	}
	return c
}
