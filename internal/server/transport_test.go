package server

import "testing"

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
