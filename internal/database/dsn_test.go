package database

import (
	"net/url"
	"testing"
	"time"
)

// TestPostgresDSN: gqlauth's connection defaults (statement timeout, JIT
// off, pgx caches for 128 statements) are added to DATABASE_URL, and a
// value the URL sets itself is kept.
func TestPostgresDSN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
	}{
		{"postgres://u@db/app", map[string]string{"statement_timeout": "5000", "jit": "off",
			"statement_cache_capacity": "128", "description_cache_capacity": "128"}},
		{"postgres://u@db/app?statement_cache_capacity=1024&jit=on&statement_timeout=9", map[string]string{
			"statement_timeout": "9", "jit": "on", "statement_cache_capacity": "1024", "description_cache_capacity": "128"}},
	} {
		u, err := url.Parse(postgresDSN(tc.in, Settings{StatementTimeout: 5 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.want {
			if got := u.Query().Get(k); got != v {
				t.Errorf("%s: %s=%q, want %q", tc.in, k, got, v)
			}
		}
	}
}
