//go:build ignore

// main.go writes a new versioned migration file for each SQL dialect when
// ent/schema has changed since the last one, into
// ent/migrate/migrations/{postgres,sqlite}. Run by `make generate` (name
// "changes") and `make migration name=add_something`; with no schema
// change it writes nothing, so regenerating is reproducible. A data
// migration is written by hand into the generated file, followed by
// `go run ./ent/migrate/main.go -rehash`.
//
// PostgreSQL needs a server to plan on: it creates and drops a temporary
// database on MIGRATION_DEV_DATABASE_URL (default: the local server).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/gqlauth/gqlauth/internal/database"
)

func main() {
	name := flag.String("name", "changes", "the new migration's name (letters, digits and _)")
	root := flag.String("dir", "ent/migrate/migrations", "the directory holding one migration directory per dialect")
	rehash := flag.Bool("rehash", false, "only rewrite each dialect's atlas.sum, after a migration file was edited by hand (a data migration)")
	flag.Parse()
	if *rehash {
		for _, dia := range []string{dialect.Postgres, dialect.SQLite} {
			if err := rewriteSum(*root, dia); err != nil {
				log.Fatalf("%s: %v", dia, err)
			}
		}
		return
	}
	adminURL := os.Getenv("MIGRATION_DEV_DATABASE_URL")
	if adminURL == "" {
		adminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx := context.Background()
	for _, dia := range []string{dialect.Postgres, dialect.SQLite} {
		if err := plan(ctx, dia, adminURL, *root, *name); err != nil {
			log.Fatalf("%s: %v", dia, err)
		}
	}
}

func plan(ctx context.Context, dia, adminURL, root, name string) error {
	sub, err := database.DirName(dia)
	if err != nil {
		return err
	}
	path := filepath.Join(root, sub)
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	dir, err := atlasmigrate.NewLocalDir(path)
	if err != nil {
		return err
	}
	devURL, drop, err := database.DevDatabase(ctx, dia, adminURL)
	if err != nil {
		return err
	}
	defer func() {
		if err := drop(); err != nil {
			log.Printf("%s: removing the dev database: %v", dia, err)
		}
	}()
	switch err := database.PlanMigration(ctx, devURL, dir, name); {
	case errors.Is(err, database.ErrNoChanges):
		return nil
	case err != nil:
		return err
	}
	fmt.Printf("%s: wrote a new migration in %s\n", dia, path)
	return nil
}

// rewriteSum recomputes the atlas.sum of a dialect's migration directory.
func rewriteSum(root, dia string) error {
	sub, err := database.DirName(dia)
	if err != nil {
		return err
	}
	dir, err := atlasmigrate.NewLocalDir(filepath.Join(root, sub))
	if err != nil {
		return err
	}
	sum, err := dir.Checksum()
	if err != nil {
		return err
	}
	return atlasmigrate.WriteSumFile(dir, sum)
}
