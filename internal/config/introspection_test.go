package config

import (
	"strings"
	"testing"
)

// TestIntrospectionDepthSetting checks GRAPHQL_MAX_INTROSPECTION_DEPTH:
// 20 by default (the standard introspection query is 15 levels deep), 0
// turns it off, a negative value stops the start.
func TestIntrospectionDepthSetting(t *testing.T) {
	c, err := FromEnv(map[string]string{})
	if err != nil || c.GraphQLMaxIntrospectionDepth != 20 {
		t.Fatalf("default: %d, %v", c.GraphQLMaxIntrospectionDepth, err)
	}
	if c, err := FromEnv(map[string]string{"GRAPHQL_MAX_INTROSPECTION_DEPTH": "0"}); err != nil || c.GraphQLMaxIntrospectionDepth != 0 {
		t.Fatalf("0: %v", err)
	}
	if _, err := FromEnv(map[string]string{"GRAPHQL_MAX_INTROSPECTION_DEPTH": "-1"}); err == nil || !strings.Contains(err.Error(), "GRAPHQL_MAX_INTROSPECTION_DEPTH") {
		t.Fatalf("-1: got %v, want an error naming the variable", err)
	}
}
