package graph

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// fragmentGraph turns fuzz bytes into a document of up to 16 fragments on
// Query, each spreading later ones (directly, inside inline fragments, or
// under the me field) or selecting fields: every shape of fragment graph
// the executor has to collect, including fan-outs and long chains.
func fragmentGraph(seed []byte) string {
	n := 2 + int(at(seed, 0))%15
	var b strings.Builder
	// The operation spreads every fragment (an unused one is invalid);
	// Q0 starts the graph.
	b.WriteString("query {")
	for i := range n {
		fmt.Fprintf(&b, " ...Q%d", i)
	}
	b.WriteString(" }\n")
	pos := 1
	for i := range n {
		fmt.Fprintf(&b, "fragment Q%d on Query {", i)
		items := 1 + int(at(seed, pos))%6
		pos++
		for range items {
			op, arg := at(seed, pos), at(seed, pos+1)
			pos += 2
			next := i + 1 + int(arg)%max(1, n-i-1)
			switch {
			case next >= n || op%5 == 0:
				b.WriteString(" me { id email }")
			case op%5 == 1:
				fmt.Fprintf(&b, " ...Q%d", next)
			case op%5 == 2:
				fmt.Fprintf(&b, " ... on Query { ...Q%d ... on Query { ...Q%d } }", next, next)
			case op%5 == 3:
				fmt.Fprintf(&b, " me { ... on User { id } } ...Q%d ...Q%d", next, next)
			default:
				b.WriteString(" __typename")
			}
		}
		b.WriteString(" }\n")
	}
	return b.String()
}

// at is seed[i], or 0 past its end.
func at(seed []byte, i int) byte {
	if i < len(seed) {
		return seed[i]
	}
	return 0
}

// selectionNodes counts the selections written in doc.
func selectionNodes(doc *ast.QueryDocument) int {
	n := 0
	var walk func(ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			n++
			switch s := sel.(type) {
			case *ast.Field:
				walk(s.SelectionSet)
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		walk(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		walk(f.SelectionSet)
	}
	return n
}

// FuzzFragmentGraphs checks that what the executor collects from any
// fragment graph stays bounded by the document: no collected field holds
// more selections than the document has (gqlgen before v0.17.98 doubled
// them at every fragment level), and that the complexity walk, which
// collects the same way, visits no more fields than that either.
func FuzzFragmentGraphs(f *testing.F) {
	for _, seed := range [][]byte{
		{15, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0},
		{6, 5, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 5, 1, 0, 1, 0, 1, 0, 1, 0},
		{10, 2, 2, 0, 2, 0, 2, 2, 0, 2, 0, 2, 2, 0, 2, 0},
		{3, 1, 0, 0},
	} {
		f.Add(seed)
	}
	es := NewExecutableSchema(Config{Complexity: complexity()})
	f.Fuzz(func(t *testing.T, seed []byte) {
		query := fragmentGraph(seed)
		doc, ok := parseValid(t, query)
		if !ok {
			t.Fatalf("generated an invalid document:\n%s", query)
		}
		bound := selectionNodes(doc)
		op := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0], Variables: map[string]any{}}
		visited := 0
		var collect func(sels ast.SelectionSet, satisfies []string, depth int)
		collect = func(sels ast.SelectionSet, satisfies []string, depth int) {
			for _, cf := range graphql.CollectFields(op, sels, satisfies) {
				visited++
				if len(cf.Selections) > bound {
					t.Fatalf("%s collected %d selections from a document of %d:\n%s", cf.Name, len(cf.Selections), bound, query)
				}
				if cf.Name == "me" && depth < 3 {
					collect(cf.Selections, []string{"User", "Node"}, depth+1)
				}
			}
		}
		collect(op.Operation.SelectionSet, []string{"Query"}, 0)
		if visited > bound {
			t.Fatalf("collected %d fields from a document of %d selections:\n%s", visited, bound, query)
		}
		c := &complexityLimit{limit: 1 << 20, es: es}
		if err := c.MutateOperationContext(context.Background(), op); err != nil {
			t.Fatalf("complexity of a small document: %v", err)
		}
		if s := measure(doc, op.Operation); s.fragments < 1 || s.depth > 2 {
			t.Fatalf("measured %+v:\n%s", s, query)
		}
	})
}
