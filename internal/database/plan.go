package database

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entschema "entgo.io/ent/dialect/sql/schema"
)

// ErrNoChanges is returned by PlanMigration when the migration directory
// already matches ent/schema.
var ErrNoChanges = errors.New("migration files match ent/schema: nothing to write")

// PlanMigration compares ent/schema with what the files in dir produce
// when replayed on the empty dev database devURL, and writes the
// difference into dir as a new file named after name (Atlas's
// "<timestamp>_<name>.sql"), updating atlas.sum. When there is no
// difference it writes nothing and returns ErrNoChanges, so regenerating
// an unchanged schema leaves the directory as it is.
func PlanMigration(ctx context.Context, devURL string, dir atlasmigrate.Dir, name string) error {
	dev, err := Open(ctx, devURL, Settings{})
	if err != nil {
		return fmt.Errorf("open dev database: %w", err)
	}
	defer dev.Close()
	err = dev.Schema.NamedDiff(ctx, name,
		entschema.WithDir(dir),
		entschema.WithMigrationMode(entschema.ModeReplay),
		entschema.WithDialect(dev.Dialect),
		entschema.WithFormatter(atlasmigrate.DefaultFormatter),
		entschema.WithDropColumn(true),
		entschema.WithDropIndex(true),
		entschema.WithErrNoPlan(true),
	)
	if errors.Is(err, atlasmigrate.ErrNoPlan) {
		return ErrNoChanges
	}
	return err
}

// DevDatabase makes an empty database of the dialect to plan migrations
// on, and returns its URL and a function that removes it: an SQLite file
// in a temporary directory, or a new database on the PostgreSQL server
// that adminURL points to.
func DevDatabase(ctx context.Context, dia, adminURL string) (string, func() error, error) {
	switch dia {
	case dialect.SQLite:
		tmp, err := os.MkdirTemp("", "gqlauth-dev-")
		if err != nil {
			return "", nil, err
		}
		return "sqlite://" + filepath.Join(tmp, "dev.db"), func() error { return os.RemoveAll(tmp) }, nil
	case dialect.Postgres:
		admin, err := sql.Open("pgx", adminURL)
		if err != nil {
			return "", nil, err
		}
		if err := admin.PingContext(ctx); err != nil {
			admin.Close()
			return "", nil, fmt.Errorf("connect to %s: %w", redact(adminURL), err)
		}
		name := "gqlauth_dev_" + strings.ToLower(rand.Text()[:12])
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			admin.Close()
			return "", nil, fmt.Errorf("create dev database: %w", err)
		}
		u, err := url.Parse(adminURL)
		if err != nil {
			admin.Close()
			return "", nil, err
		}
		u.Path = "/" + name
		drop := func() error {
			defer admin.Close()
			_, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			return err
		}
		return u.String(), drop, nil
	}
	return "", nil, fmt.Errorf("no migrations for dialect %q", dia)
}

// redact hides the password of a database URL for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the database"
	}
	return u.Redacted()
}
