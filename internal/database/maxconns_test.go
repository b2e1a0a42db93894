package database_test

import (
	"context"
	"testing"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/database"
)

// TestMaxConns checks DATABASE_MAX_CONNS: PostgreSQL's pool opens at most
// the connections asked for, and DefaultMaxConns when 0.
func TestMaxConns(t *testing.T) {
	url := apptest.NewPostgresDB(t)
	for _, tc := range []struct{ set, want int }{{6, 6}, {0, database.DefaultMaxConns()}} {
		db, err := database.Open(context.Background(), url, database.Settings{MaxConns: tc.set})
		if err != nil {
			t.Fatal(err)
		}
		if got := db.SQL.Stats().MaxOpenConnections; got != tc.want {
			t.Errorf("MaxConns %d: pool of %d connections, want %d", tc.set, got, tc.want)
		}
		db.Close()
	}
}
