package database_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/gqlauth/gqlauth/internal/database"
)

// slowQuery is a statement of each dialect that runs for many seconds.
var slowQuery = map[string]string{
	dialect.SQLite:   `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 2000000000) SELECT count(*) FROM c`,
	dialect.Postgres: `SELECT pg_sleep(30)`,
}

// TestStatementDeadline checks DATABASE_STATEMENT_TIMEOUT: a statement
// that would run for many seconds, sent through ent's driver alone or in a
// transaction, ends with an error soon after the deadline, and the
// database keeps serving.
func TestStatementDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := database.Open(ctx, d.newDB(t), database.Settings{StatementTimeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			run := func(what string, q func(context.Context, string, any, any) error) {
				t.Helper()
				start := time.Now()
				var rows entsql.Rows
				err := q(ctx, slowQuery[d.dialect], []any{}, &rows)
				if err == nil {
					for rows.Next() {
					}
					err = rows.Err()
					rows.Close()
				}
				took := time.Since(start)
				if err == nil {
					t.Fatalf("%s: the slow statement finished without error after %s", what, took)
				}
				if took > 10*timeout+2*time.Second {
					t.Fatalf("%s: the statement ran %s, past its %s deadline", what, took, timeout)
				}
				t.Logf("%s: ended after %s: %v", what, took.Round(time.Millisecond), err)
			}
			run("statement", db.Driver.Query)
			tx, err := db.Driver.Tx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			run("statement in a transaction", tx.Query)
			_ = tx.Rollback()

			// Ordinary statements still run, the deadline's timer released.
			for range 3 {
				if _, err := db.User.Query().Count(ctx); err != nil {
					t.Fatalf("the database stopped serving: %v", err)
				}
			}
		})
	}
}

// TestPostgresStatementTimeout checks that PostgreSQL itself enforces the
// deadline on every pooled connection (statement_timeout), even for a
// statement sent past ent, and that JIT compilation is off.
func TestPostgresStatementTimeout(t *testing.T) {
	ctx := context.Background()
	for _, d := range dialects {
		if d.dialect != dialect.Postgres {
			continue
		}
		db, err := database.Open(ctx, d.newDB(t), database.Settings{StatementTimeout: 250 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var timeout, jit string
		if err := db.SQL.QueryRowContext(ctx, `SELECT current_setting('statement_timeout'), current_setting('jit')`).Scan(&timeout, &jit); err != nil {
			t.Fatal(err)
		}
		if timeout != "250ms" || jit != "off" {
			t.Fatalf("statement_timeout %q, jit %q; want 250ms and off", timeout, jit)
		}
		_, err = db.SQL.ExecContext(ctx, `SELECT pg_sleep(5)`)
		if err == nil || !strings.Contains(err.Error(), "statement timeout") {
			t.Fatalf("pg_sleep(5) with a 250ms statement_timeout: %v", err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("the client, not the server, ended the statement: %v", err)
		}
		// Migrations run without the bound and hand the connection back with it.
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		db.SQL.SetMaxOpenConns(1)
		if err := db.SQL.QueryRowContext(ctx, `SELECT current_setting('statement_timeout')`).Scan(&timeout); err != nil || timeout != "250ms" {
			t.Fatalf("after migrating: statement_timeout %q (%v)", timeout, err)
		}
	}
}
