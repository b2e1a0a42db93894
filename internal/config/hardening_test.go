package config

import (
	"strings"
	"testing"
	"time"
)

func TestHardeningDefaults(t *testing.T) {
	c, err := FromEnv(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxBodyBytes != 1<<20 || c.GraphQLMaxQueryBytes != 15000 || c.GraphQLMaxTokens != 1000 ||
		c.GraphQLMaxDepth != 10 || c.GraphQLMaxAliases != 15 || c.GraphQLMaxDirectives != 50 ||
		c.GraphQLMaxCredentialFields != 1 || c.LoginMaxFailures != 5 || c.LoginFailureWindow != 15*time.Minute ||
		c.RateLimitAuth != 30 || !c.FieldSuggestions() {
		t.Fatalf("defaults: %+v", c)
	}
	prod, err := FromEnv(map[string]string{"APP_ENV": "production", "DATA_ENCRYPTION_KEY": testDataKey})
	if err != nil {
		t.Fatal(err)
	}
	if prod.FieldSuggestions() || prod.Introspection() || prod.Playground() {
		t.Fatal("production must hide the schema by default")
	}
}

func TestHardeningSettingsAreValidated(t *testing.T) {
	for vars, want := range map[string]string{
		"TRUSTED_PROXIES=10.0.0.0/8,not-a-cidr": "TRUSTED_PROXIES",
		"GRAPHQL_MAX_DEPTH=-1":                  "GRAPHQL_MAX_DEPTH",
		"RATE_LIMIT_AUTH=-5":                    "RATE_LIMIT_AUTH",
		"GRAPHQL_MAX_CREDENTIAL_FIELDS=0":       "GRAPHQL_MAX_CREDENTIAL_FIELDS",
		"HTTP_MAX_BODY_BYTES=10":                "HTTP_MAX_BODY_BYTES",
		"LOGIN_FAILURE_WINDOW=0s":               "LOGIN_FAILURE_WINDOW",
	} {
		k, v, _ := strings.Cut(vars, "=")
		_, err := FromEnv(map[string]string{k: v})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error naming %s", vars, err, want)
		}
	}
	c, err := FromEnv(map[string]string{"TRUSTED_PROXIES": " 10.0.0.0/8 , 192.0.2.1,::1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.TrustedProxyPrefixes(); len(got) != 3 || got[1].String() != "192.0.2.1/32" || got[2].String() != "::1/128" {
		t.Fatalf("prefixes %v", got)
	}
}
