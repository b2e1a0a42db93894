package graph

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

// TestComplexityKeptOnlyWithoutVariables checks the cost cache: an
// operation without variables is walked once and refused again from the
// cache, one whose page size comes from a variable is walked every time,
// and another document is never answered from the first's entry.
func TestComplexityKeptOnlyWithoutVariables(t *testing.T) {
	es := NewExecutableSchema(Config{Complexity: complexity()})
	c := &complexityLimit{limit: 250}
	if err := c.Validate(es); err != nil {
		t.Fatal(err)
	}
	run := func(query string, vars map[string]any) error {
		t.Helper()
		doc, ok := parseValid(t, query)
		if !ok {
			t.Fatalf("invalid document: %s", query)
		}
		op := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0], Variables: vars}
		if err := c.MutateOperationContext(context.Background(), op); err != nil {
			return err
		}
		return nil
	}
	const bigPage = `{ users(first: 100) { edges { node { id email username role } } } }`
	doc, _ := parseValid(t, bigPage)
	op := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0], Variables: map[string]any{}}
	for range 2 {
		if err := c.MutateOperationContext(context.Background(), op); err == nil {
			t.Fatal("a page of 100 users with four fields each passed a limit of 250")
		}
	}
	if cost, ok := c.costs.Get(op.Operation); !ok || cost <= 250 {
		t.Fatalf("kept cost %d (%v), want the operation's cost over 250", cost, ok)
	}
	if err := run(`{ users(first: 10) { edges { node { id email username role } } } }`, map[string]any{}); err != nil {
		t.Fatalf("a page of 10 users, another document: %v", err)
	}
	const byVariable = `query($n: Int) { users(first: $n) { edges { node { id email username role } } } }`
	if err := run(byVariable, map[string]any{"n": 10}); err != nil {
		t.Fatalf("a page of 10 users by variable: %v", err)
	}
	if err := run(byVariable, map[string]any{"n": 100}); err == nil {
		t.Fatal("a page of 100 users by variable passed a limit of 250")
	}
	if n := c.costs.Len(); n != 2 {
		t.Fatalf("%d costs kept, want the two operations without variables", n)
	}
}
