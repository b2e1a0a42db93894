package database

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"

	"github.com/gqlauth/gqlauth/ent/migrate/migrations"
)

// RevisionsTable records which migration files a database has applied.
const RevisionsTable = "gqlauth_schema_revisions"

// migrateLockID is the PostgreSQL advisory lock that serialises gqlauth
// instances migrating one database at the same time.
const migrateLockID = 0x67716c61 // "gqla"

// MigrationDir is the embedded migration directory of a dialect
// (dialect.Postgres or dialect.SQLite).
func MigrationDir(dia string) (*atlasmigrate.MemDir, error) {
	name, err := DirName(dia)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(migrations.FS, name)
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	dir := &atlasmigrate.MemDir{}
	for _, e := range entries {
		b, err := fs.ReadFile(migrations.FS, path.Join(name, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read embedded migrations: %w", err)
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			return nil, err
		}
	}
	return dir, nil
}

// DirName is the directory under ent/migrate/migrations that holds the
// migration files of a dialect.
func DirName(dia string) (string, error) {
	switch dia {
	case dialect.Postgres:
		return "postgres", nil
	case dialect.SQLite:
		return "sqlite", nil
	}
	return "", fmt.Errorf("no migrations for dialect %q", dia)
}

// Migrate applies the pending migration files (embedded from
// ent/migrate/migrations) and records each in RevisionsTable. Each file
// runs in a transaction of its own, so a failing file leaves the schema
// as it was before it; PostgreSQL instances that start together take
// turns through an advisory lock, SQLite ones through the write lock.
// It returns the names of the files it applied.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	dir, err := MigrationDir(db.Dialect)
	if err != nil {
		return nil, err
	}
	return db.MigrateDir(ctx, dir)
}

// MigrateDir is Migrate with the files of dir (which must hold their
// atlas.sum): the tests of a data migration use it to build a database at
// an earlier revision.
func (db *DB) MigrateDir(ctx context.Context, dir atlasmigrate.Dir) ([]string, error) {
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	defer conn.Close()
	if db.Dialect == dialect.Postgres {
		// Migrations (and waiting for another instance's) may take longer
		// than DATABASE_STATEMENT_TIMEOUT; RESET gives the connection its
		// start-up value back before it returns to the pool.
		if _, err := conn.ExecContext(ctx, "SET statement_timeout = 0"); err != nil {
			return nil, fmt.Errorf("migrate database: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "RESET statement_timeout") //nolint:errcheck // a broken connection is dropped by the pool
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
			return nil, fmt.Errorf("migrate database: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockID) //nolint:errcheck // the lock also ends with the connection
	}
	revs := &revisions{db: conn, dialect: db.Dialect}
	if err := revs.init(ctx); err != nil {
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	drv, err := openAtlas(db.Dialect, conn)
	if err != nil {
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	ex, err := atlasmigrate.NewExecutor(drv, dir, revs)
	if err != nil {
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	pending, err := ex.Pending(ctx)
	var notClean *atlasmigrate.NotCleanError
	// SQLite has no advisory lock: an instance starting beside one that is
	// applying the first file can see its tables before its history (two
	// reads, between which the other commits). Wait for that one to finish.
	for tries := 0; db.Dialect == dialect.SQLite && errors.As(err, &notClean) && tries < 50; tries++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		pending, err = ex.Pending(ctx)
	}
	switch {
	case errors.Is(err, atlasmigrate.ErrNoPendingFiles):
		return nil, nil
	case errors.As(err, &notClean):
		return nil, fmt.Errorf("migrate database: it has tables but no migration history in %s (%s); "+
			"migrate an empty database, or record the matching revision by hand", RevisionsTable, notClean.Reason)
	case err != nil:
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	var applied []string
	for _, f := range pending {
		ran, err := applyFile(ctx, conn, db.Dialect, dir, f)
		if err != nil {
			return applied, fmt.Errorf("migrate database: %s: %w", f.Name(), err)
		}
		if ran {
			applied = append(applied, f.Name())
		}
	}
	return applied, nil
}

// applyFile runs one migration file and records it, in one transaction.
// It reports false when another instance had applied the file meanwhile.
// A SQLite file that turns foreign keys off (how Atlas rebuilds a table)
// runs outside a transaction, where that pragma has an effect; otherwise
// dropping the old table would cascade to the rows that reference it.
func applyFile(ctx context.Context, conn *sql.Conn, dia string, dir atlasmigrate.Dir, f atlasmigrate.File) (bool, error) {
	if dia == dialect.SQLite && strings.Contains(strings.ToLower(string(f.Bytes())), "pragma foreign_keys = off") {
		claimed, err := claimFile(ctx, conn, dia, f)
		if err != nil || !claimed {
			return false, err
		}
		return true, executeFile(ctx, conn, dia, dir, f)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	// Another instance may have applied it while this one waited (SQLite).
	r, err := (&revisions{db: tx, dialect: dia}).ReadRevision(ctx, f.Version())
	switch {
	case err == nil && r.Applied == r.Total && r.Error == "":
		return false, tx.Rollback()
	case err != nil && !errors.Is(err, atlasmigrate.ErrRevisionNotExist):
		tx.Rollback()
		return false, err
	}
	if err := executeFile(ctx, tx, dia, dir, f); err != nil {
		tx.Rollback()
		return false, err
	}
	return true, tx.Commit()
}

// claimFile makes one SQLite instance the one that runs f outside a
// transaction: under the write lock, the first to find no revision for f
// records an empty one and reports true; the others report false once
// that instance has finished f (or fail if it failed, or after a minute).
func claimFile(ctx context.Context, conn *sql.Conn, dia string, f atlasmigrate.File) (bool, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	revs := &revisions{db: tx, dialect: dia}
	_, err = revs.ReadRevision(ctx, f.Version())
	switch {
	case errors.Is(err, atlasmigrate.ErrRevisionNotExist):
		stmts, serr := f.Stmts()
		if serr != nil {
			tx.Rollback()
			return false, serr
		}
		// Atlas's executor takes this row over and counts Applied up to
		// Total as it runs the statements.
		err = revs.WriteRevision(ctx, &atlasmigrate.Revision{
			Version: f.Version(), Description: f.Desc(), Type: atlasmigrate.RevisionTypeExecute,
			Total: len(stmts), ExecutedAt: time.Now(), PartialHashes: []string{},
		})
		if err != nil {
			tx.Rollback()
			return false, err
		}
		return true, tx.Commit()
	case err != nil:
		tx.Rollback()
		return false, err
	}
	tx.Rollback()
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := (&revisions{db: conn, dialect: dia}).ReadRevision(ctx, f.Version())
		switch {
		case err != nil:
			return false, err
		case r.Error != "":
			return false, fmt.Errorf("another instance failed to apply it: %s", r.Error)
		case r.Total > 0 && r.Applied == r.Total:
			return false, nil
		case time.Now().After(deadline):
			return false, errors.New("another instance is still applying it after a minute")
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// executeFile runs f's statements on db through an Atlas executor.
func executeFile(ctx context.Context, db execQuerier, dia string, dir atlasmigrate.Dir, f atlasmigrate.File) error {
	drv, err := openAtlas(dia, db)
	if err != nil {
		return err
	}
	ex, err := atlasmigrate.NewExecutor(drv, dir, &revisions{db: db, dialect: dia})
	if err != nil {
		return err
	}
	return ex.Execute(ctx, f)
}

// execQuerier is a *sql.Conn or a *sql.Tx.
type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func openAtlas(dia string, db execQuerier) (atlasmigrate.Driver, error) {
	switch dia {
	case dialect.Postgres:
		return postgres.Open(db)
	case dialect.SQLite:
		return sqlite.Open(db)
	}
	return nil, fmt.Errorf("no migrations for dialect %q", dia)
}

// revisions is the Atlas RevisionReadWriter over RevisionsTable.
type revisions struct {
	db      execQuerier
	dialect string
	// schema is the PostgreSQL schema the table is in (current_schema()).
	schema string
}

var _ atlasmigrate.RevisionReadWriter = (*revisions)(nil)

// revisionColumns are the columns of RevisionsTable, in scan order.
const revisionColumns = "version, description, type, applied, total, executed_at, execution_time_ns, error, error_stmt, hash, partial_hashes, operator_version"

func (r *revisions) init(ctx context.Context) error {
	_, err := r.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+RevisionsTable+` (
	version varchar(64) NOT NULL PRIMARY KEY,
	description text NOT NULL,
	type bigint NOT NULL,
	applied bigint NOT NULL,
	total bigint NOT NULL,
	executed_at varchar(64) NOT NULL,
	execution_time_ns bigint NOT NULL,
	error text NOT NULL,
	error_stmt text NOT NULL,
	hash text NOT NULL,
	partial_hashes text NOT NULL,
	operator_version text NOT NULL
)`)
	if err != nil {
		return fmt.Errorf("create %s: %w", RevisionsTable, err)
	}
	if r.dialect == dialect.Postgres {
		if err := r.db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&r.schema); err != nil {
			return fmt.Errorf("read current schema: %w", err)
		}
	}
	return nil
}

// placeholders returns n bind parameters in the dialect's syntax.
func (r *revisions) placeholders(n int) []string {
	ps := make([]string, n)
	for i := range ps {
		if r.dialect == dialect.Postgres {
			ps[i] = fmt.Sprintf("$%d", i+1)
		} else {
			ps[i] = "?"
		}
	}
	return ps
}

// Ident implements atlasmigrate.RevisionReadWriter: the table that the
// clean-database check ignores.
func (r *revisions) Ident() *atlasmigrate.TableIdent {
	return &atlasmigrate.TableIdent{Name: RevisionsTable, Schema: r.schema}
}

// ReadRevisions implements atlasmigrate.RevisionReadWriter.
func (r *revisions) ReadRevisions(ctx context.Context) ([]*atlasmigrate.Revision, error) {
	rows, err := r.db.QueryContext(ctx, "SELECT "+revisionColumns+" FROM "+RevisionsTable+" ORDER BY version")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*atlasmigrate.Revision
	for rows.Next() {
		rev, err := scanRevision(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rev)
	}
	return out, rows.Err()
}

// ReadRevision implements atlasmigrate.RevisionReadWriter.
func (r *revisions) ReadRevision(ctx context.Context, version string) (*atlasmigrate.Revision, error) {
	row := r.db.QueryRowContext(ctx, "SELECT "+revisionColumns+" FROM "+RevisionsTable+" WHERE version = "+r.placeholders(1)[0], version)
	rev, err := scanRevision(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, atlasmigrate.ErrRevisionNotExist
	}
	return rev, err
}

// WriteRevision implements atlasmigrate.RevisionReadWriter.
func (r *revisions) WriteRevision(ctx context.Context, rev *atlasmigrate.Revision) error {
	partial, err := json.Marshal(rev.PartialHashes)
	if err != nil {
		return err
	}
	ps := r.placeholders(12)
	_, err = r.db.ExecContext(ctx, "INSERT INTO "+RevisionsTable+" ("+revisionColumns+") VALUES ("+strings.Join(ps, ", ")+`)
ON CONFLICT (version) DO UPDATE SET description = excluded.description, type = excluded.type,
	applied = excluded.applied, total = excluded.total, executed_at = excluded.executed_at,
	execution_time_ns = excluded.execution_time_ns, error = excluded.error, error_stmt = excluded.error_stmt,
	hash = excluded.hash, partial_hashes = excluded.partial_hashes, operator_version = excluded.operator_version`,
		rev.Version, rev.Description, int64(rev.Type), rev.Applied, rev.Total,
		rev.ExecutedAt.UTC().Format(time.RFC3339Nano), int64(rev.ExecutionTime),
		rev.Error, rev.ErrorStmt, rev.Hash, string(partial), rev.OperatorVersion)
	return err
}

// DeleteRevision implements atlasmigrate.RevisionReadWriter.
func (r *revisions) DeleteRevision(ctx context.Context, version string) error {
	_, err := r.db.ExecContext(ctx, "DELETE FROM "+RevisionsTable+" WHERE version = "+r.placeholders(1)[0], version)
	return err
}

func scanRevision(s interface{ Scan(...any) error }) (*atlasmigrate.Revision, error) {
	var (
		rev               atlasmigrate.Revision
		typ, nanos        int64
		executed, partial string
	)
	err := s.Scan(&rev.Version, &rev.Description, &typ, &rev.Applied, &rev.Total, &executed, &nanos,
		&rev.Error, &rev.ErrorStmt, &rev.Hash, &partial, &rev.OperatorVersion)
	if err != nil {
		return nil, err
	}
	rev.Type = atlasmigrate.RevisionType(typ)
	rev.ExecutionTime = time.Duration(nanos)
	if rev.ExecutedAt, err = time.Parse(time.RFC3339Nano, executed); err != nil {
		return nil, fmt.Errorf("%s: executed_at %q: %w", RevisionsTable, executed, err)
	}
	if err := json.Unmarshal([]byte(partial), &rev.PartialHashes); err != nil {
		return nil, fmt.Errorf("%s: partial_hashes: %w", RevisionsTable, err)
	}
	return &rev, nil
}
