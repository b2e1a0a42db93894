package sdl_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gqlauth/gqlauth/graph"
	"github.com/gqlauth/gqlauth/graph/sdl"
)

// TestCommittedSchemaIsCurrent fails when graph/schema.graphql was not
// regenerated after a change to graph/schema/*.graphqls.
func TestCommittedSchemaIsCurrent(t *testing.T) {
	committed, err := os.ReadFile("../schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	want := sdl.Format(graph.NewExecutableSchema(graph.Config{}).Schema())
	if !bytes.Equal(committed, want) {
		t.Fatal("graph/schema.graphql is out of date: run make generate and commit it")
	}
}

// TestPublishedSchemaStandsAlone loads the published SDL the way a
// client's tools do: on its own, with no gqlgen directives defined.
func TestPublishedSchemaStandsAlone(t *testing.T) {
	raw, err := os.ReadFile("../schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	s, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: string(raw)})
	if gerr != nil {
		t.Fatalf("published SDL does not load on its own: %v", gerr)
	}
	for _, name := range []string{"goModel", "goField"} {
		if strings.Contains(string(raw), "@"+name) {
			t.Errorf("published SDL mentions gqlgen's @%s", name)
		}
	}
	for _, field := range []string{"me", "users", "refreshTokens"} {
		if s.Query.Fields.ForName(field) == nil {
			t.Errorf("Query.%s missing from the published SDL", field)
		}
	}
	for _, field := range []string{"signUp", "signIn", "refresh", "logout", "revoke"} {
		if s.Mutation.Fields.ForName(field) == nil {
			t.Errorf("Mutation.%s missing from the published SDL", field)
		}
	}
	// @credential is published on purpose: it tells clients which
	// mutations are once per operation and rate-limited per address.
	if s.Directives["credential"] == nil || s.Mutation.Fields.ForName("signIn").Directives.ForName("credential") == nil {
		t.Error("the published SDL does not show @credential on signIn")
	}
}

// TestFormatLeavesSchemaAlone checks Format works on a copy: the running
// server's schema keeps gqlgen's directives.
func TestFormatLeavesSchemaAlone(t *testing.T) {
	s := graph.NewExecutableSchema(graph.Config{}).Schema()
	sdl.Format(s)
	if s.Directives["goModel"] == nil {
		t.Fatal("Format removed goModel from the schema it was given")
	}
	if s.Types["Node"].Directives.ForName("goModel") == nil {
		t.Fatal("Format removed @goModel from Node in the schema it was given")
	}
}
