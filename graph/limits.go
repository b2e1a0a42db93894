package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/gqlauth/gqlauth/internal/config"
)

// The extensions.code of each GraphQL limit. Together with gqlgen's
// GRAPHQL_PARSE_FAILED (token limit) and COMPLEXITY_LIMIT_EXCEEDED they
// are listed in docs/security.md.
const (
	CodeQueryTooLarge           = "QUERY_TOO_LARGE"
	CodeQueryTooDeep            = "QUERY_TOO_DEEP"
	CodeFragmentsTooDeep        = "FRAGMENTS_TOO_DEEP"
	CodeIntrospectionTooDeep    = "INTROSPECTION_TOO_DEEP"
	CodeTooManyAliases          = "TOO_MANY_ALIASES"
	CodeTooManyDirectives       = "TOO_MANY_DIRECTIVES"
	CodeTooManyCredentialFields = "TOO_MANY_CREDENTIAL_FIELDS"
	// CodeComplexityLimitExceeded refuses an operation over
	// GRAPHQL_MAX_COMPLEXITY (complexity.go; the code gqlgen's own
	// extension uses).
	CodeComplexityLimitExceeded = "COMPLEXITY_LIMIT_EXCEEDED"
)

// Limits are the bounds a GraphQL request must keep; 0 turns one off.
type Limits struct {
	MaxQueryBytes       int
	MaxTokens           int
	MaxDepth            int
	MaxAliases          int
	MaxDirectives       int
	MaxComplexity       int
	MaxStringBytes      int
	MaxCredentialFields int
	MaxFragmentDepth    int
	MaxInputList        int
	MaxInputDepth       int
	FieldSuggestions    bool

	// MaxIntrospectionDepth bounds __schema and __type selections, which
	// MaxDepth and MaxComplexity leave out.
	MaxIntrospectionDepth int
}

// LimitsFrom takes the limits out of the configuration.
func LimitsFrom(c *config.Config) Limits {
	return Limits{
		MaxQueryBytes:       c.GraphQLMaxQueryBytes,
		MaxTokens:           c.GraphQLMaxTokens,
		MaxDepth:            c.GraphQLMaxDepth,
		MaxAliases:          c.GraphQLMaxAliases,
		MaxDirectives:       c.GraphQLMaxDirectives,
		MaxComplexity:       c.GraphQLMaxComplexity,
		MaxStringBytes:      c.GraphQLMaxStringBytes,
		MaxCredentialFields: c.GraphQLMaxCredentialFields,
		MaxFragmentDepth:    c.GraphQLMaxFragmentDepth,
		MaxInputList:        c.GraphQLMaxInputList,
		MaxInputDepth:       c.GraphQLMaxInputDepth,
		FieldSuggestions:    c.FieldSuggestions(),

		MaxIntrospectionDepth: c.GraphQLMaxIntrospectionDepth,
	}
}

// applyLimits installs every GraphQL limit of o on gql: the parser's
// token limit, validation without "Did you mean" hints unless enabled,
// the document checks of limitsExtension (with the transport's
// AllowOperation), the complexity limit, and the per-client rate limit on
// credential fields.
func applyLimits(gql *handler.Server, schema *ast.Schema, o HandlerOptions) {
	l, clients := o.Limits, o.AuthRate
	creds := credentialFieldsOf(schema)
	gql.SetParserTokenLimit(l.MaxTokens)
	if !l.FieldSuggestions {
		gql.SetValidationRulesFn(rulesWithoutSuggestions)
		// Needed as well: without it the executor swaps the suggesting
		// FieldsOnCorrectType rule back in.
		gql.SetDisableSuggestion(true)
	}
	gql.Use(&limitsExtension{limits: l, creds: creds, allow: o.AllowOperation})
	if l.MaxComplexity > 0 {
		// Introspection costs nothing here; introspectionLimits bounds it.
		gql.Use(&complexityLimit{limit: l.MaxComplexity})
	}
	if clients != nil {
		gql.AroundFields(rateLimitCredentials(creds, clients))
	}
}

// rulesWithoutSuggestions is gqlparser's default rule set with every rule
// that can suggest names ("Did you mean …?") swapped for its variant that
// does not, so that a production server does not spell out its schema to
// anyone who guesses near a field name.
func rulesWithoutSuggestions() *rules.Rules {
	r := rules.NewDefaultRules()
	for _, swap := range []struct {
		name string
		rule core.Rule
	}{
		{rules.FieldsOnCorrectTypeRule.Name, rules.FieldsOnCorrectTypeRuleWithoutSuggestions},
		{rules.KnownArgumentNamesRule.Name, rules.KnownArgumentNamesRuleWithoutSuggestions},
		{rules.KnownTypeNamesRule.Name, rules.KnownTypeNamesRuleWithoutSuggestions},
		{rules.ScalarLeafsRule.Name, rules.ScalarLeafsRuleWithoutSuggestions},
		{rules.ValuesOfCorrectTypeRule.Name, rules.ValuesOfCorrectTypeRuleWithoutSuggestions},
	} {
		r.RemoveRule(swap.name)
		r.AddRule(swap.rule.Name, swap.rule.RuleFunc)
	}
	return r
}

// limitsExtension refuses documents beyond the limits before any field
// runs: text length before parsing; operations the transport does not
// allow (mutations over GET), introspection when it is off, credential
// fields, depth, aliases, directives and argument values after validation.
type limitsExtension struct {
	limits Limits
	creds  credentialFields
	allow  func(context.Context, ast.Operation) *gqlerror.Error // HandlerOptions.AllowOperation; may be nil
	schema *ast.Schema                                          // set by Validate
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
} = &limitsExtension{}

// ExtensionName implements graphql.HandlerExtension.
func (*limitsExtension) ExtensionName() string { return "GqlauthLimits" }

// Validate implements graphql.HandlerExtension; it keeps the schema for
// the types of arguments.
func (e *limitsExtension) Validate(es graphql.ExecutableSchema) error {
	e.schema = es.Schema()
	return nil
}

// MutateOperationParameters refuses an oversized document before it is
// parsed, and variables whose lists or input objects go past the input
// bounds before gqlgen coerces them: coercing an OR of 20,000 filters
// took most of a second of CPU, before any limit could answer.
func (e *limitsExtension) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	if max := e.limits.MaxQueryBytes; max > 0 && len(p.Query) > max {
		return limitError(CodeQueryTooLarge, "the query is %d bytes long, more than the limit of %d", len(p.Query), max)
	}
	in := inputCheck{bad: map[string]string{}, maxList: e.limits.MaxInputList, maxDepth: e.limits.MaxInputDepth, shapeOnly: true}
	for name, v := range p.Variables {
		in.value("$"+name, v, nil, 0)
	}
	return in.err()
}

// MutateOperationContext checks the parsed, validated document.
func (e *limitsExtension) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil || op.Doc == nil {
		return nil
	}
	l := e.limits
	if e.allow != nil {
		// The transport's rule comes first, whatever else is wrong with
		// the document (a mutation over GET is 405 in GraphQL over HTTP).
		if err := e.allow(ctx, op.Operation.Operation); err != nil {
			return err
		}
	}
	if op.DisableIntrospection && selectsIntrospection(op.Doc, op.Operation) {
		// gqlgen would run the operation and fail __schema with an
		// untyped error (an "internal error" to clients); refuse it up
		// front instead, like any other invalid document.
		return limitError(errcode.ValidationFailed, "introspection is disabled")
	}
	if n := e.creds.count(op.Doc, op.Operation); n > l.MaxCredentialFields {
		return limitError(CodeTooManyCredentialFields,
			"the operation selects %d credential fields (%s); at most %d per request",
			n, e.creds.names, l.MaxCredentialFields)
	}
	if err := introspectionLimits(op.Doc, op.Operation, l.MaxIntrospectionDepth); err != nil {
		return err
	}
	s := measure(op.Doc, op.Operation)
	if l.MaxFragmentDepth > 0 && s.fragments > l.MaxFragmentDepth {
		return limitError(CodeFragmentsTooDeep, "fragments nest %d levels deep, more than the limit of %d", s.fragments, l.MaxFragmentDepth)
	}
	if l.MaxDepth > 0 && s.depth > l.MaxDepth {
		return limitError(CodeQueryTooDeep, "the query is %d levels deep, more than the limit of %d", s.depth, l.MaxDepth)
	}
	if l.MaxAliases > 0 && s.aliases > l.MaxAliases {
		return limitError(CodeTooManyAliases, "the query uses %d aliases, more than the limit of %d", s.aliases, l.MaxAliases)
	}
	if l.MaxDirectives > 0 && s.directives > l.MaxDirectives {
		return limitError(CodeTooManyDirectives, "the query uses %d directives, more than the limit of %d", s.directives, l.MaxDirectives)
	}
	return checkArguments(op, e.schema, l)
}

// limitError is a refusal of the document with the given code.
func limitError(code, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	errcode.Set(err, code)
	return err
}

// eachRootField calls fn with each field of op's root selection set,
// through inline fragments and fragment spreads (each fragment once, so
// the walk is linear in the document).
func eachRootField(doc *ast.QueryDocument, op *ast.OperationDefinition, fn func(*ast.Field)) {
	seen := map[string]bool{}
	var walk func(ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				fn(s)
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			case *ast.FragmentSpread:
				if def := doc.Fragments.ForName(s.Name); def != nil && !seen[s.Name] {
					seen[s.Name] = true
					walk(def.SelectionSet)
				}
			}
		}
	}
	walk(op.SelectionSet)
}

// selectsIntrospection reports whether op selects __schema or __type,
// fragments included (__typename is not introspection). They are fields
// of the query root only, so the root fields are all it needs to read.
func selectsIntrospection(doc *ast.QueryDocument, op *ast.OperationDefinition) bool {
	found := false
	eachRootField(doc, op, func(f *ast.Field) { found = found || isIntrospection(f) })
	return found
}

// isIntrospection reports whether f is __schema or __type, the root
// fields of introspection (__typename is not introspection).
func isIntrospection(f *ast.Field) bool { return f.Name == "__schema" || f.Name == "__type" }

// introspectionLimits bounds every __schema and __type selection of op
// to maxDepth levels, counting the root field and expanding fragments (0:
// unbounded), so that ofType chains and the like end. Fan-out is bounded
// by validation: gqlparser's MaxIntrospectionDepth rule (graphql-js's
// MaxIntrospectionDepthRule) refuses fields, inputFields, interfaces and
// possibleTypes nested three deep, so __type { fields { type { fields {
// type { fields … cannot multiply the schema by itself. Each fragment is
// measured once, so the check is linear in the document.
func introspectionLimits(doc *ast.QueryDocument, op *ast.OperationDefinition, maxDepth int) *gqlerror.Error {
	if maxDepth <= 0 {
		return nil
	}
	memo := map[string]int{}
	visiting := map[string]bool{}
	var depth func(ast.SelectionSet) int
	depth = func(sels ast.SelectionSet) int {
		deepest := 0
		for _, sel := range sels {
			switch s := sel.(type) {
			case *ast.Field:
				deepest = max(deepest, 1+depth(s.SelectionSet))
			case *ast.InlineFragment:
				deepest = max(deepest, depth(s.SelectionSet))
			case *ast.FragmentSpread:
				d, ok := memo[s.Name]
				if def := doc.Fragments.ForName(s.Name); !ok && def != nil && !visiting[s.Name] {
					visiting[s.Name] = true
					d = depth(def.SelectionSet)
					visiting[s.Name] = false
					memo[s.Name] = d
				}
				deepest = max(deepest, d)
			}
		}
		return deepest
	}
	// __schema and __type are fields of the query root only.
	deepest := 0
	eachRootField(doc, op, func(f *ast.Field) {
		if isIntrospection(f) {
			deepest = max(deepest, 1+depth(f.SelectionSet))
		}
	})
	if deepest > maxDepth {
		return limitError(CodeIntrospectionTooDeep,
			"the introspection is %d levels deep, more than the limit of %d", deepest, maxDepth)
	}
	return nil
}

// shape is what the limits measure of a selection set, fragments
// expanded: field depth, aliases, directives, and how deeply fragment
// spreads and inline fragments nest along any path (fields between them
// included).
type shape struct{ depth, aliases, directives, fragments int }

// saturate keeps sums of repeated fragment spreads from overflowing.
const saturate = 1 << 30

func add(a, b int) int {
	if a+b > saturate {
		return saturate
	}
	return a + b
}

// measure returns the depth, aliases and directives of op with fragments
// expanded (each fragment measured once and reused, so a document of
// fragments spreading fragments cannot make this exponential).
func measure(doc *ast.QueryDocument, op *ast.OperationDefinition) shape {
	memo := map[string]*shape{}
	visiting := map[string]bool{}
	var set func(ast.SelectionSet) shape
	fragment := func(name string) shape {
		if s, ok := memo[name]; ok {
			return *s
		}
		def := doc.Fragments.ForName(name)
		if def == nil || visiting[name] {
			return shape{} // unknown or cyclic: validation refuses these
		}
		visiting[name] = true
		s := set(def.SelectionSet)
		s.directives = add(s.directives, len(def.Directives))
		visiting[name] = false
		memo[name] = &s
		return s
	}
	set = func(sels ast.SelectionSet) shape {
		var out shape
		for _, sel := range sels {
			var child shape
			switch s := sel.(type) {
			case *ast.Field:
				child = set(s.SelectionSet)
				child.depth++
				if isIntrospection(s) {
					child.depth = 0 // bounded by introspectionLimits instead
				}
				if s.Alias != "" && s.Alias != s.Name && s.Name != "__typename" {
					child.aliases = add(child.aliases, 1)
				}
				child.directives = add(child.directives, len(s.Directives))
			case *ast.InlineFragment:
				child = set(s.SelectionSet)
				child.directives = add(child.directives, len(s.Directives))
				child.fragments++
			case *ast.FragmentSpread:
				child = fragment(s.Name)
				child.directives = add(child.directives, len(s.Directives))
				child.fragments++
			}
			out.depth = max(out.depth, child.depth)
			out.fragments = max(out.fragments, child.fragments)
			out.aliases = add(out.aliases, child.aliases)
			out.directives = add(out.directives, child.directives)
		}
		return out
	}
	s := set(op.SelectionSet)
	s.directives = add(s.directives, len(op.Directives))
	for _, v := range op.VariableDefinitions {
		s.directives = add(s.directives, len(v.Directives))
	}
	return s
}
