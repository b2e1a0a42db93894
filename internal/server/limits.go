package server

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/graph"
	"github.com/gqlauth/gqlauth/internal/account"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/config"
	"github.com/gqlauth/gqlauth/internal/request"
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
	CodeMutationOverGET         = "MUTATION_NOT_ALLOWED_OVER_GET"
	// CodeComplexityLimitExceeded refuses an operation over
	// GRAPHQL_MAX_COMPLEXITY (complexity.go; the code gqlgen's own
	// extension uses).
	CodeComplexityLimitExceeded = "COMPLEXITY_LIMIT_EXCEEDED"
)

// credentialDirective marks the credential fields in the schema
// (graph/schema/auth.graphqls): the mutations that check a password, a
// code or a token, or that tell whether an account exists. An operation
// may select them at most GRAPHQL_MAX_CREDENTIAL_FIELDS times (aliases
// could otherwise batch guesses into one request), and each costs a token
// of the client's RATE_LIMIT_AUTH bucket. A mutation is covered by being
// marked; TestSecretArgumentsAreCredentialFields fails when one that takes
// a secret is not.
//
// updateProfile is one too: it answers CONFLICT when the email or username
// it sets belongs to another account, which tells whether that account
// exists. Until email changes go through verification, it is once per
// document, and costs a token when it sets an email or username
// (identifierChange).
const credentialDirective = "credential"

// credentialFields are the Mutation fields marked @credential, read from
// the schema once at start.
type credentialFields struct {
	marked map[string]bool
	names  string // for error messages: "signUp, signIn, … and changePassword"
}

// credentialFieldsOf reads the fields of s's Mutation type marked
// @credential.
func credentialFieldsOf(s *ast.Schema) credentialFields {
	c := credentialFields{marked: map[string]bool{}}
	if s.Mutation == nil {
		return c
	}
	var names []string
	for _, f := range s.Mutation.Fields {
		if f.Directives.ForName(credentialDirective) != nil {
			c.marked[f.Name] = true
			names = append(names, f.Name)
		}
	}
	if n := len(names); n > 1 {
		c.names = strings.Join(names[:n-1], ", ") + " and " + names[n-1]
	} else {
		c.names = strings.Join(names, "")
	}
	return c
}

// identifierChange reports whether an updateProfile call, with its
// arguments as the client sent them, sets an email or username: the
// changes that can probe for accounts, and so cost a token of the
// client's auth bucket. Every other credential field always costs one.
// The field's description in graph/schema/users.graphqls says so.
func identifierChange(field string, args map[string]any) bool {
	if field != "updateProfile" {
		return true
	}
	in, _ := args["input"].(map[string]any)
	return in["email"] != nil || in["username"] != nil
}

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

// ClientLimiter is a token bucket per client address
// (internal/ratelimit.Buckets, in Redis or in process).
type ClientLimiter interface {
	// Allow takes a token of key's bucket; it returns 0 when the request
	// may go ahead, else how long to wait.
	Allow(ctx context.Context, key string) (time.Duration, error)
}

// applyLimits installs every GraphQL limit on gql: the parser's token
// limit, validation without "Did you mean" hints unless enabled, the
// document checks of limitsExtension, the complexity limit, and the
// per-client rate limit on credential fields.
func applyLimits(gql *handler.Server, schema *ast.Schema, l Limits, clients ClientLimiter) {
	creds := credentialFieldsOf(schema)
	gql.SetParserTokenLimit(l.MaxTokens)
	if !l.FieldSuggestions {
		gql.SetValidationRulesFn(rulesWithoutSuggestions)
		// Needed as well: without it the executor swaps the suggesting
		// FieldsOnCorrectType rule back in.
		gql.SetDisableSuggestion(true)
	}
	gql.Use(&limitsExtension{limits: l, creds: creds})
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
// runs: text length before parsing; mutations over GET, introspection
// when it is off, credential fields, depth, aliases, directives and
// argument values after validation.
type limitsExtension struct {
	limits Limits
	creds  credentialFields
	schema *ast.Schema // set by Validate
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
	if op.Operation.Operation != ast.Query {
		if request.From(ctx).ReadOnly {
			return limitError(CodeMutationOverGET, "a %s must be sent with POST", op.Operation.Operation)
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

// count counts the credential fields that op, the operation that runs,
// would execute: its root fields with fragments
// expanded, each distinct response key once. Aliases are distinct keys, so
// two aliases of signIn count two, whether written in op or in its
// fragments; a field written twice under one key runs once and counts
// once. Other operations of the document do not run and do not count,
// so a client may send one document holding signIn and refresh (GraphiQL,
// generated clients) and pick one with operationName.
//
// Only the root selection set is walked: credential fields are fields of
// Mutation, and no field returns Mutation (TestNoFieldReturnsMutation), so
// a mutation's root is the only place they can be.
func (c credentialFields) count(doc *ast.QueryDocument, op *ast.OperationDefinition) int {
	keys := map[string]bool{}
	eachRootField(doc, op, func(f *ast.Field) {
		if c.marked[f.Name] && f.ObjectDefinition != nil && f.ObjectDefinition.Name == "Mutation" {
			keys[cmp.Or(f.Alias, f.Name)] = true
		}
	})
	return len(keys)
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

// checkArguments refuses any string in the operation's arguments (literal
// or variable, however deeply nested in input objects and lists) that is
// not valid UTF-8, holds a control character or NUL, or is longer than
// l.MaxStringBytes; any list longer than l.MaxInputList and any input
// object nested deeper than l.MaxInputDepth (a filter of 20,000 ORs, or
// 5,000 nested NOTs, held PostgreSQL for minutes); and any Time that
// gqlgen could not read (its own error would reach the client as an
// internal error). The error is BAD_USER_INPUT and names the input field,
// as the services' own validation does.
func checkArguments(op *graphql.OperationContext, schema *ast.Schema, l Limits) *gqlerror.Error {
	in := inputCheck{bad: map[string]string{}, schema: schema, maxBytes: l.MaxStringBytes,
		maxList: l.MaxInputList, maxDepth: l.MaxInputDepth}
	seen := map[string]bool{}
	checkArgs := func(args ast.ArgumentList, defs ast.ArgumentDefinitionList) {
		for _, a := range args {
			v, err := a.Value.Value(op.Variables)
			if err != nil {
				continue // coercion reports it
			}
			var typ *ast.Type
			if d := defs.ForName(a.Name); d != nil {
				typ = d.Type
			}
			in.value(inputPath(a.Name), v, typ, 0)
		}
	}
	var walkSet func(ast.SelectionSet)
	walkSet = func(sels ast.SelectionSet) {
		for _, sel := range sels {
			switch s := sel.(type) {
			case *ast.Field:
				var defs ast.ArgumentDefinitionList
				if s.Definition != nil {
					defs = s.Definition.Arguments
				}
				checkArgs(s.Arguments, defs)
				for _, d := range s.Directives {
					var ddefs ast.ArgumentDefinitionList
					if d.Definition != nil {
						ddefs = d.Definition.Arguments
					}
					checkArgs(d.Arguments, ddefs)
				}
				walkSet(s.SelectionSet)
			case *ast.InlineFragment:
				walkSet(s.SelectionSet)
			case *ast.FragmentSpread:
				if !seen[s.Name] {
					seen[s.Name] = true
					if def := op.Doc.Fragments.ForName(s.Name); def != nil {
						walkSet(def.SelectionSet)
					}
				}
			}
		}
	}
	walkSet(op.Operation.SelectionSet)
	return in.err()
}

// inputPath names an argument the way the services name fields: the
// fields of an argument called input stand alone ("email", not
// "input.email").
func inputPath(arg string) string {
	if arg == "input" {
		return ""
	}
	return arg
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// inputCheck collects what is wrong with argument values; a bound of 0
// is off.
type inputCheck struct {
	bad      map[string]string
	schema   *ast.Schema // nil: types unknown, strings checked only
	maxBytes int
	maxList  int // items of a list
	maxDepth int // input objects nested in one another
	// shapeOnly checks lists and nesting alone: raw variables, before
	// coercion (their strings are checked with the arguments).
	shapeOnly bool
}

// err is the BAD_USER_INPUT error naming every bad field, or nil.
func (c inputCheck) err() *gqlerror.Error {
	if len(c.bad) == 0 {
		return nil
	}
	names := make([]string, 0, len(c.bad))
	for k := range c.bad {
		names = append(names, k)
	}
	sort.Strings(names)
	err := gqlerror.Errorf("invalid input: %s %s", names[0], c.bad[names[0]])
	err.Extensions = map[string]any{"code": string(apierr.BadUserInput), "fields": c.bad}
	return err
}

func (c inputCheck) add(path, why string) {
	if path == "" {
		path = "input"
	}
	if _, ok := c.bad[path]; !ok {
		c.bad[path] = why
	}
}

// value checks v, of GraphQL type typ (nil when unknown), at path, inside
// depth input objects.
func (c inputCheck) value(path string, v any, typ *ast.Type, depth int) {
	if typ != nil && typ.Elem == nil && typ.NamedType == "Time" && v != nil {
		if _, err := graphql.UnmarshalTime(v); err != nil {
			c.add(path, "must be an RFC 3339 date-time, like 2026-01-02T15:04:05Z")
			return
		}
	}
	switch x := v.(type) {
	case string:
		if c.shapeOnly {
			return
		}
		if why := badString(x, c.maxBytes); why != "" {
			c.add(path, why)
		}
	case map[string]any:
		if c.maxDepth > 0 && depth >= c.maxDepth {
			c.add(path, fmt.Sprintf("nests input objects more than %d deep", c.maxDepth))
			return
		}
		var def *ast.Definition
		if typ != nil && typ.Elem == nil && c.schema != nil {
			def = c.schema.Types[typ.NamedType]
		}
		for k, e := range x {
			var ft *ast.Type
			if def != nil {
				if f := def.Fields.ForName(k); f != nil {
					ft = f.Type
				}
			}
			c.value(join(path, k), e, ft, depth+1)
		}
	case []any:
		if c.maxList > 0 && len(x) > c.maxList {
			c.add(path, fmt.Sprintf("must have at most %d items, not %d", c.maxList, len(x)))
			return
		}
		var et *ast.Type
		if typ != nil {
			et = typ.Elem
		}
		for i, e := range x {
			c.value(path+"["+strconv.Itoa(i)+"]", e, et, depth)
		}
	}
}

// badString explains what is wrong with an input string, or returns "".
func badString(s string, maxBytes int) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case maxBytes > 0 && len(s) > maxBytes:
		return fmt.Sprintf("must be at most %d bytes", maxBytes)
	}
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			return "is not valid UTF-8 (holds U+FFFD or a lone surrogate)"
		case unicode.IsControl(r):
			return "must not contain control characters"
		}
	}
	return ""
}

// rateLimitCredentials takes a token of the client's bucket before each
// credential field (marked @credential) runs, so one address can try at
// most RATE_LIMIT_AUTH passwords, sign-ups, refreshes or identifier
// changes a minute. IPv6 clients are counted by
// their /64, the block one host usually has.
func rateLimitCredentials(creds credentialFields, clients ClientLimiter) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || fc.Object != "Mutation" || !creds.marked[fc.Field.Name] {
			return next(ctx)
		}
		if op := graphql.GetOperationContext(ctx); !identifierChange(fc.Field.Name, fc.Field.ArgumentMap(op.Variables)) {
			return next(ctx)
		}
		wait, err := clients.Allow(ctx, "auth:"+clientKey(request.From(ctx).IP))
		if err != nil {
			return nil, apierr.Wrap(apierr.ServiceUnavailable, "rate limiting is unavailable; try again later", err)
		}
		if wait > 0 {
			return nil, &apierr.Error{
				Code:       apierr.TooManyRequests,
				Message:    "too many requests from this address; try again later",
				RetryAfter: wait,
			}
		}
		return next(ctx)
	}
}

// clientKey is the rate-limit key of a client address: the address
// itself for IPv4, its /64 for IPv6.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
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
func complexity() graph.ComplexityRoot {
	var c graph.ComplexityRoot
	c.Query.Users = func(child int, _ *entgql.Cursor[uuid.UUID], first *int, _ *entgql.Cursor[uuid.UUID], last *int, _ *ent.UserOrder, _ *ent.UserWhereInput) int {
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
