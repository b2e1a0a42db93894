package database_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/database"
)

// dialects are the databases gqlauth ships migrations for, with a
// function that makes a fresh, empty one for a test.
var dialects = []struct {
	name    string
	dialect string
	newDB   func(testing.TB) string
}{
	{"sqlite", dialect.SQLite, apptest.NewSQLiteDB},
	{"postgres", dialect.Postgres, apptest.NewPostgresDB},
}

// TestMigrationFilesMatchSchema replays the committed migration files of
// each dialect on an empty database and plans ent/schema against the
// result: any difference means someone changed ent/schema without
// running `make generate` (or edited a migration by hand).
func TestMigrationFilesMatchSchema(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			dir, err := database.MigrationDir(d.dialect)
			if err != nil {
				t.Fatal(err)
			}
			files, err := dir.Files()
			if err != nil || len(files) == 0 {
				t.Fatalf("no embedded migration files for %s (err %v)", d.name, err)
			}
			before := len(files)
			err = database.PlanMigration(context.Background(), d.newDB(t), dir, "drift")
			if errors.Is(err, database.ErrNoChanges) {
				return
			}
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			files, _ = dir.Files()
			var missing strings.Builder
			for _, f := range files[before:] {
				missing.Write(f.Bytes())
			}
			t.Fatalf("ent/schema and ent/migrate/migrations/%s differ; run `make generate` and commit. Missing:\n%s", d.name, missing.String())
		})
	}
}

// TestMigrationDriftIsDetected checks that the drift check can fail: with
// the last migration file left out, the plan is not empty.
func TestMigrationDriftIsDetected(t *testing.T) {
	dir, err := database.MigrationDir(dialect.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := dir.Files()
	short := &atlasmigrate.MemDir{}
	if err := short.CopyFiles(files[:len(files)-1]); err != nil {
		t.Fatal(err)
	}
	err = database.PlanMigration(context.Background(), apptest.NewSQLiteDB(t), short, "drift")
	if err != nil {
		t.Fatalf("plan without the last file: %v, want a new file written", err)
	}
	after, _ := short.Files()
	if len(after) != len(files) || !strings.HasSuffix(after[len(after)-1].Name(), "_drift.sql") {
		t.Fatalf("files after planning: %d, want %d ending with a _drift.sql file", len(after), len(files))
	}
}

// TestMigrate applies the migrations to an empty database, twice at once
// (instances starting together), then again (nothing left to do).
func TestMigrate(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			url := d.newDB(t)
			dir, _ := database.MigrationDir(d.dialect)
			files, _ := dir.Files()

			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				applied []string
				errs    []error
			)
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db, err := database.Open(ctx, url, database.Settings{})
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					defer db.Close()
					names, err := db.Migrate(ctx)
					mu.Lock()
					defer mu.Unlock()
					applied = append(applied, names...)
					if err != nil {
						errs = append(errs, err)
					}
				}()
			}
			wg.Wait()
			if len(errs) > 0 {
				t.Fatalf("concurrent migrations failed: %v", errs)
			}
			if len(applied) != len(files) {
				t.Fatalf("applied %v between two instances, want each of the %d files once", applied, len(files))
			}

			db, err := database.Open(ctx, url, database.Settings{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			again, err := db.Migrate(ctx)
			if err != nil || len(again) != 0 {
				t.Fatalf("second migration applied %v, err %v; want nothing", again, err)
			}
			// The schema works: a user can be written and read back.
			u, err := db.User.Create().SetEmail("migrated@example.com").SetPasswordHash("x").Save(ctx)
			if err != nil {
				t.Fatalf("create user on the migrated schema: %v", err)
			}
			if n, err := db.User.Query().Count(ctx); err != nil || n != 1 || u.Role == "" {
				t.Fatalf("count = %d, err %v, role %q", n, err, u.Role)
			}
			var revs int
			if err := db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM "+database.RevisionsTable).Scan(&revs); err != nil || revs != len(files) {
				t.Fatalf("%s has %d rows (err %v), want %d", database.RevisionsTable, revs, err, len(files))
			}
		})
	}
}

// TestMigrateRefusesUnknownTables: a database with tables but no
// migration history is not migrated blindly.
func TestMigrateRefusesUnknownTables(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := database.Open(ctx, d.newDB(t), database.Settings{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.SQL.ExecContext(ctx, "CREATE TABLE users (id integer)"); err != nil {
				t.Fatal(err)
			}
			_, err = db.Migrate(ctx)
			if err == nil || !strings.Contains(err.Error(), database.RevisionsTable) {
				t.Fatalf("Migrate on a database with foreign tables: err = %v, want one naming %s", err, database.RevisionsTable)
			}
		})
	}
}
