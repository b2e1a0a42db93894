package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// introspectionQueries prints graphql-js's getIntrospectionQuery (the
// document GraphiQL's Docs panel, GraphQL Code Generator and
// graphql-inspector send), by name: with its defaults, with each option
// on, and with every option on.
const introspectionQueries = `
const { getIntrospectionQuery } = require('graphql');
const options = ['descriptions', 'specifiedByUrl', 'directiveIsRepeatable', 'schemaDescription', 'inputValueDeprecation'];
const out = { defaults: getIntrospectionQuery(), 'no descriptions': getIntrospectionQuery({ descriptions: false }) };
for (const o of options) out[o] = getIntrospectionQuery({ [o]: true });
out.all = getIntrospectionQuery(Object.fromEntries(options.map((o) => [o, true])));
console.log(JSON.stringify(out));
`

// graphqlJSIntrospectionQueries runs node on the pinned graphql package
// (examples/ts) and returns its introspection queries.
func graphqlJSIntrospectionQueries(t *testing.T) map[string]string {
	t.Helper()
	dir, node := apptest.NodeTools(t)
	cmd := exec.Command(node, "-e", introspectionQueries)
	cmd.Dir = dir
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var out map[string]string
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("node printed %s: %v", raw, err)
	}
	return out
}

// TestStandardIntrospectionPassesLimits sends graphql-js's introspection
// query, in each of its variants, to a server with the default limits:
// it answers the schema, without errors. Introspection is 15 levels deep,
// more than GRAPHQL_MAX_DEPTH; it has its own bound instead.
func TestStandardIntrospectionPassesLimits(t *testing.T) {
	queries := graphqlJSIntrospectionQueries(t)
	srv := apptest.New(t, apptest.Backends[0], nil)
	c := srv.Client()
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			res := c.Do(t, q, nil)
			var data struct {
				Schema struct {
					QueryType struct{ Name string }
					Types     []struct {
						Name   string
						Fields []struct{ Name string }
					}
				} `json:"__schema"`
			}
			res.Decode(t, &data)
			if data.Schema.QueryType.Name != "Query" || len(data.Schema.Types) < 10 {
				t.Fatalf("no schema in %.300s", res.Body)
			}
			for _, typ := range data.Schema.Types {
				if typ.Name == "Query" && len(typ.Fields) == 0 {
					t.Fatalf("Query has no fields: %.300s", res.Body)
				}
			}
		})
	}
}

// TestIntrospectionHasItsOwnLimits checks that introspection does not
// count toward the depth and complexity limits, which protect the
// resolvers, even when they are set low, while the resolvers' documents
// still do; and that GRAPHQL_MAX_INTROSPECTION_DEPTH bounds it instead.
func TestIntrospectionHasItsOwnLimits(t *testing.T) {
	standard := graphqlJSIntrospectionQueries(t)["all"]
	typeRef := `{ __type(name: "User") { name fields { name type { name kind ofType { name kind ofType { name } } } } } }`
	for _, tc := range []struct {
		env       map[string]string
		pass      []string
		refuse    string
		refusedAs string
	}{
		{
			env:  map[string]string{"GRAPHQL_MAX_DEPTH": "3"},
			pass: []string{standard, typeRef, `{ __typename __type(name: "User") { fields { type { ofType { name } } } } }`},
			// users { edges { node { id } } } is four levels.
			refuse: `{ users { edges { node { id } } } __typename }`, refusedAs: "QUERY_TOO_DEEP",
		},
		{
			env:  map[string]string{"GRAPHQL_MAX_COMPLEXITY": "10"},
			pass: []string{standard, typeRef, strings.Replace(standard, "__schema {", `__type(name: "User") { name description fields { name } } __schema {`, 1)},
			// me and its nine fields cost 10, the alias 2 more.
			refuse: `{ me { id email username firstName lastName age role createdAt updatedAt } again: me { id } }`, refusedAs: "COMPLEXITY_LIMIT_EXCEEDED",
		},
		{
			env: map[string]string{"GRAPHQL_MAX_INTROSPECTION_DEPTH": "14"},
			// The standard query is 15 levels deep.
			pass:   []string{typeRef},
			refuse: standard, refusedAs: "INTROSPECTION_TOO_DEEP",
		},
	} {
		srv := apptest.New(t, apptest.Backends[0], tc.env)
		c := srv.Client()
		for _, q := range tc.pass {
			if res := c.Do(t, q, nil); len(res.Errors) > 0 || res.Status != 200 {
				t.Errorf("%v: %.80s: %s", tc.env, strings.Join(strings.Fields(q), " "), res.Body)
			}
		}
		if res := c.Do(t, tc.refuse, nil); res.Code() != tc.refusedAs {
			t.Errorf("%v: %.80s: got %s, want %s", tc.env, strings.Join(strings.Fields(tc.refuse), " "), res.Body, tc.refusedAs)
		}
	}
}
