package graph

import (
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

var testSchema = NewExecutableSchema(Config{}).Schema()

// testCreds are the credential fields of testSchema.
var testCreds = credentialFieldsOf(testSchema)

// parseValid parses and validates a document against gqlauth's schema.
func parseValid(t testing.TB, query string) (*ast.QueryDocument, bool) {
	t.Helper()
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, 5000)
	if err != nil {
		return nil, false
	}
	if errs := validator.ValidateWithRules(testSchema, doc, nil); len(errs) > 0 {
		return nil, false
	}
	return doc, true
}

func TestMeasure(t *testing.T) {
	cases := []struct {
		query string
		want  shape
		creds int
	}{
		{`{ me { id } }`, shape{depth: 2}, 0},
		{`{ a: me { id } b: me { x: id } t: __typename }`, shape{depth: 2, aliases: 3}, 0},
		{`{ me { ...F } x: me { ...F } } fragment F on User { a: id b: email }`, shape{depth: 2, aliases: 5, fragments: 1}, 0},
		{`{ me @include(if: true) { id @skip(if: false) ... on User @include(if: true) { email } } }`, shape{depth: 2, directives: 3, fragments: 1}, 0},
		{`mutation { signIn(input: {email: "a@b.co", password: "p"}) { user { id } } }`, shape{depth: 3}, 1},
		// Only the operation that runs counts (the first here).
		{`mutation A { signIn(input: {email: "a@b.co", password: "p"}) { accessToken } } mutation B { refresh { accessToken } changePassword(currentPassword: "a", newPassword: "b") { accessToken } }`, shape{depth: 2}, 1},
		{`mutation A { me: updateProfile(input: {}) { id } } mutation B { refresh { accessToken } }`, shape{depth: 2, aliases: 1}, 1},
		// Aliases and fragments inside it count, each response key once.
		{`mutation { ...M } fragment M on Mutation { a: signUp(input: {password: "p"}) { accessToken } b: signUp(input: {password: "q"}) { accessToken } }`, shape{depth: 2, aliases: 2, fragments: 1}, 2},
		{`mutation B { ...M ... on Mutation { refresh { expiresIn } } } mutation A { refresh { accessToken } } fragment M on Mutation { refresh { accessToken } }`, shape{depth: 2, fragments: 1}, 1},
		{`mutation B { ...M ... on Mutation { x: refresh { expiresIn } } } fragment M on Mutation { refresh { accessToken } }`, shape{depth: 2, aliases: 1, fragments: 1}, 2},
		{`{ ...A } fragment A on Query { me { ...B } } fragment B on User { ... on User { id } }`, shape{depth: 2, fragments: 3}, 0},
		{`{ ... on Query { ... on Query { me { id } } } me { ... on User { email } } }`, shape{depth: 2, fragments: 2}, 0},
	}
	for _, tc := range cases {
		doc, ok := parseValid(t, tc.query)
		if !ok {
			t.Fatalf("invalid test document %s", tc.query)
		}
		if got := measure(doc, doc.Operations[0]); got != tc.want {
			t.Errorf("%s: measured %+v, want %+v", tc.query, got, tc.want)
		}
		if got := testCreds.count(doc, doc.Operations[0]); got != tc.creds {
			t.Errorf("%s: %d credential fields, want %d", tc.query, got, tc.creds)
		}
	}
}

// TestIntrospectionLimits checks the depth of introspection is measured
// from __schema or __type, fragments expanded, wherever the root field is
// spread, and that it leaves the resolvers' depth alone.
func TestIntrospectionLimits(t *testing.T) {
	ofType := func(n int) string {
		return strings.Repeat("ofType { ", n) + "name" + strings.Repeat(" }", n)
	}
	for _, tc := range []struct {
		query      string
		depth      int // of the document without introspection
		introDepth int // the smallest limit it passes
	}{
		{`{ __typename }`, 1, 0},
		{`{ me { id } __schema { queryType { name } } }`, 2, 3},
		{`{ __type(name: "User") { fields { type { ` + ofType(3) + ` } } } }`, 0, 7},
		{`{ ...Q } fragment Q on Query { ... on Query { __type(name: "User") { ...T } } } fragment T on __Type { ofType { ...U } } fragment U on __Type { ` + ofType(4) + ` }`, 0, 7},
		{`{ a: __type(name: "User") { name } b: __type(name: "Role") { ...T } } fragment T on __Type { ` + ofType(2) + ` }`, 0, 4},
	} {
		doc, ok := parseValid(t, tc.query)
		if !ok {
			t.Fatalf("invalid test document %s", tc.query)
		}
		op := doc.Operations[0]
		if got := measure(doc, op).depth; got != tc.depth {
			t.Errorf("%s: depth %d, want %d", tc.query, got, tc.depth)
		}
		if tc.introDepth > 1 {
			if err := introspectionLimits(doc, op, tc.introDepth-1); err == nil || err.Extensions["code"] != CodeIntrospectionTooDeep {
				t.Errorf("%s: passes an introspection depth limit of %d: %v", tc.query, tc.introDepth-1, err)
			}
		}
		if err := introspectionLimits(doc, op, tc.introDepth); err != nil {
			t.Errorf("%s: refused at a limit of %d: %v", tc.query, tc.introDepth, err)
		}
	}
}

// TestNoFieldReturnsMutation keeps credentialFields.count right:
// it looks for credential fields (fields of Mutation) at the root of the
// operation only, which is enough while no field returns Mutation.
func TestNoFieldReturnsMutation(t *testing.T) {
	for _, def := range testSchema.Types {
		for _, f := range def.Fields {
			if f.Type.Name() == testSchema.Mutation.Name {
				t.Errorf("%s.%s returns %s: count credential fields below the root too", def.Name, f.Name, f.Type.Name())
			}
		}
	}
}

// TestMeasureFragmentFanOut checks that fragments spreading fragments
// are measured in linear time with saturating sums: 30 levels of two
// spreads each would be 2^30 fields expanded.
func TestMeasureFragmentFanOut(t *testing.T) {
	var b strings.Builder
	b.WriteString("{ me { ...F" + itoa(0) + " } }\n")
	for i := 0; i < 30; i++ {
		b.WriteString("fragment F" + itoa(i) + " on User { a" + itoa(i) + ": id ...F" + itoa(i+1) + " ...F" + itoa(i+1) + " }\n")
	}
	b.WriteString("fragment F" + itoa(30) + " on User { id }\n")
	doc, err := parser.ParseQuery(&ast.Source{Input: b.String()})
	if err != nil {
		t.Fatal(err)
	}
	s := measure(doc, doc.Operations[0])
	if s.aliases < 1<<20 || s.depth != 2 {
		t.Fatalf("measured %+v", s)
	}
}

func itoa(i int) string { return string(rune('a'+i/26)) + string(rune('a'+i%26)) }

// FuzzLimits runs the document checks on arbitrary valid documents:
// they must not panic, and what they measure must fit the document.
func FuzzLimits(f *testing.F) {
	for _, seed := range []string{
		`{ me { id } }`,
		`{ a: me { id } b: me { ...F } } fragment F on User { x: email @include(if: true) }`,
		`mutation { signIn(input: {email: "a@b.co", password: "p"}) { accessToken user { id } } }`,
		`mutation A { refresh { accessToken } } mutation B { signUp(input: {password: "p"}) { accessToken } }`,
		`query($w: UserWhereInput) { users(first: 5, where: $w) { edges { node { id } } } }`,
		`{ __type(name: "User") { fields { type { ofType { ofType { name } } } } } }`,
		`{ nodes(ids: ["00000000-0000-0000-0000-000000000000"]) { id ... on User { email } } }`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		doc, ok := parseValid(t, query)
		if !ok {
			return
		}
		tokens := strings.Count(query, "{") + 1
		for _, op := range doc.Operations {
			s := measure(doc, op)
			if s.depth < 0 || s.aliases < 0 || s.directives < 0 || s.depth > tokens {
				t.Fatalf("measured %+v for %q", s, query)
			}
			opCtx := &graphql.OperationContext{Doc: doc, Operation: op, Variables: map[string]any{}}
			_ = checkArguments(opCtx, testSchema, Limits{MaxStringBytes: 1024, MaxInputList: 100, MaxInputDepth: 10})
			_ = introspectionLimits(doc, op, 20)
		}
		for _, op := range doc.Operations {
			if n := testCreds.count(doc, op); n < 0 || n > strings.Count(query, "sign")+strings.Count(query, "refresh")+strings.Count(query, "changePassword")+strings.Count(query, "updateProfile") {
				t.Fatalf("%d credential fields in %q", n, query)
			}
		}
	})
}
