package server

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TestNegotiate checks the response media type picked from Accept.
func TestNegotiate(t *testing.T) {
	const gr, js = mediaGraphQLResponse, mediaJSON
	for _, tc := range []struct {
		accept []string
		want   string // "" means 406
	}{
		{nil, js},
		{[]string{"application/json"}, js},
		{[]string{"application/graphql-response+json"}, gr},
		{[]string{"application/graphql-response+json, application/json;q=0.9"}, gr},
		{[]string{"application/json, application/graphql-response+json"}, gr},
		{[]string{"application/graphql-response+json;q=0.5, application/json"}, js},
		{[]string{"application/graphql-response+json;q=0.5, */*"}, js},
		{[]string{"*/*"}, js},
		{[]string{"application/*"}, js},
		{[]string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, js},
		{[]string{"application/graphql-response+json; charset=utf-8"}, gr},
		{[]string{"text/html"}, ""},
		{[]string{"application/json;q=0"}, ""},
		{[]string{"application/json;q=0, */*"}, gr},
		{[]string{"text/plain", "application/graphql-response+json"}, gr},
		{[]string{"garbage;;;"}, ""},
	} {
		got, ok := negotiate(tc.accept)
		if !ok {
			got = ""
		}
		if got != tc.want {
			t.Errorf("Accept %q: %q, want %q", tc.accept, got, tc.want)
		}
	}
}

// TestResponseBody checks that the data-only answer written around
// gqlgen's data is the JSON json.Marshal writes, and that an answer with
// errors or extensions still goes through json.Marshal whole.
func TestResponseBody(t *testing.T) {
	yes := true
	for _, resp := range []*graphql.Response{
		{Data: json.RawMessage(`{"me":{"id":"1","email":"a@example.com","username":null}}`)},
		{Data: json.RawMessage(`null`)},
		{Data: json.RawMessage(`{"me":null}`), Errors: gqlerror.List{{Message: "invalid or expired access token"}}},
		{Data: json.RawMessage(`{"a":1}`), Extensions: map[string]any{"cost": 1}},
		{Data: json.RawMessage(`{"a":1}`), HasNext: &yes, Label: "l"},
	} {
		got, err := responseBody(resp)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s is not JSON: %v", got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("responseBody wrote %s, json.Marshal %s", got, want)
		}
	}
}
