// Package database opens gqlauth's database, SQLite or PostgreSQL, from
// DATABASE_URL, and brings its schema up to date.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/batch"
)

// DB is an open database: the ent client and the pool under it.
type DB struct {
	*ent.Client
	// SQL is the pool, for health checks and pool statistics.
	SQL *sql.DB
	// Dialect is dialect.SQLite or dialect.Postgres.
	Dialect string
	// Driver is what the ent client sends its statements through (with
	// the statement deadline, when set).
	Driver dialect.Driver
	// timeout is the statement deadline (Settings.StatementTimeout) of
	// the statements sent without ent (ReadUser).
	timeout time.Duration
	// users runs ReadUser's reads on PostgreSQL, alone or in batches; nil
	// on SQLite, which reads through ent.
	users *batch.Loader[userKey, *ent.User]
}

// Settings are how gqlauth uses the database beyond its URL.
type Settings struct {
	// StatementTimeout is the deadline of every statement
	// (DATABASE_STATEMENT_TIMEOUT); 0 means none.
	StatementTimeout time.Duration
	// MaxConns caps the open PostgreSQL connections (DATABASE_MAX_CONNS);
	// 0 is DefaultMaxConns.
	MaxConns int
}

// DefaultMaxConns is the PostgreSQL connections an instance opens at
// most unless told: eight per CPU, at most 32. More than the CPUs can
// keep busy only queue inside PostgreSQL and hold memory (each keeps its
// buffers and statement cache). On 2 CPUs, 16 served as many requests as
// 32 with 2 MiB less resident memory (make bench).
func DefaultMaxConns() int { return min(32, 8*runtime.GOMAXPROCS(0)) }

// Open connects to the database that url names and checks that it answers:
// postgres:// or postgresql:// for PostgreSQL (through pgx), sqlite://path
// or file:path for SQLite. Every statement gets set.StatementTimeout as
// its deadline.
func Open(ctx context.Context, rawURL string, set Settings, opts ...ent.Option) (*DB, error) {
	driverName, dsn, dia, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	if dia == dialect.Postgres {
		dsn = postgresDSN(dsn, set)
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if dia == dialect.Postgres {
		conns := set.MaxConns
		if conns <= 0 {
			conns = DefaultMaxConns()
		}
		db.SetMaxOpenConns(conns)
		db.SetMaxIdleConns(conns)
		db.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		// SQLite has one writer at a time; a few connections let reads
		// go on beside it (WAL) without piling up lock waits.
		db.SetMaxOpenConns(4)
	}
	if err := ping(ctx, db, dia); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	var drv dialect.Driver = entsql.OpenDB(dia, db)
	if set.StatementTimeout > 0 {
		drv = deadlineDriver{Driver: drv.(*entsql.Driver), timeout: set.StatementTimeout}
	}
	d := &DB{Client: ent.NewClient(append(opts, ent.Driver(drv))...), SQL: db, Dialect: dia, Driver: drv, timeout: set.StatementTimeout}
	if dia == dialect.Postgres {
		d.users = batch.New(batch.PerCPU(), d.fetchUsers)
	}
	return d, nil
}

// ping checks that the database answers, within 5 seconds. Processes
// that open a new SQLite file at the same moment race to switch it to
// WAL, which does not wait for the busy timeout: the loser gets
// SQLITE_BUSY at once, so it tries again until the deadline.
func ping(ctx context.Context, db *sql.DB, dia string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		err := db.PingContext(ctx)
		if err == nil || !isSQLiteBusy(dia, err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// isSQLiteBusy reports whether err is SQLite's SQLITE_BUSY (5).
func isSQLiteBusy(dia string, err error) bool {
	var coded interface{ Code() int }
	return dia == dialect.SQLite && errors.As(err, &coded) && coded.Code()&0xff == 5
}

// postgresDSN sets the run-time parameters of every PostgreSQL
// connection (pgx passes unknown URL parameters on to the server):
//   - statement_timeout, so that the server itself cancels a statement
//     that runs past the deadline, even when the client is gone;
//   - jit off: gqlauth's statements are short lookups, and JIT compilation
//     is what kept backends busy for minutes, deaf to cancel and
//     terminate, when a filter of 20,000 ORs was sent.
//
// Parameters the URL already names are kept.
func postgresDSN(dsn string, set Settings) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // pgx reports the malformed URL
	}
	q := u.Query()
	if set.StatementTimeout > 0 && !q.Has("statement_timeout") {
		q.Set("statement_timeout", strconv.FormatInt(set.StatementTimeout.Milliseconds(), 10))
	}
	if !q.Has("jit") {
		q.Set("jit", "off")
	}
	// pgx sizes each connection's statement and description caches for
	// 512 statements, allocated when it connects (about 50 KiB a
	// connection); gqlauth runs far fewer distinct statements.
	for _, cache := range []string{"statement_cache_capacity", "description_cache_capacity"} {
		if !q.Has(cache) {
			q.Set(cache, "128")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// parse maps DATABASE_URL to a database/sql driver, DSN and ent dialect.
func parse(raw string) (driverName, dsn, dia string, err error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return "pgx", raw, dialect.Postgres, nil
	case strings.HasPrefix(raw, "sqlite://"):
		return "sqlite", sqliteDSN("file:" + strings.TrimPrefix(raw, "sqlite://")), dialect.SQLite, nil
	case strings.HasPrefix(raw, "file:"):
		return "sqlite", sqliteDSN(raw), dialect.SQLite, nil
	default:
		return "", "", "", fmt.Errorf("DATABASE_URL: must start with postgres://, sqlite:// or file:")
	}
}

// sqliteDSN adds the pragmas gqlauth relies on: foreign keys (refresh
// tokens die with their user), WAL (readers do not block the writer), a
// busy timeout, and BEGIN IMMEDIATE so that a transaction takes the write
// lock at its start; a refresh rotation can then never interleave with
// another, and never fails half-way on a lock upgrade.
func sqliteDSN(dsn string) string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	// Store times as "2006-01-02 15:04:05.999999999-07:00". The driver's
	// default is time.Time.String(), which appends the monotonic clock
	// reading ("m=+0.5") of times from time.Now(): stored values then
	// compare wrongly as text against parameters, and keyset pagination
	// by created_at returned a user twice.
	q.Set("_time_format", "sqlite")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + q.Encode()
}

// Close closes the ent client and its pool.
func (db *DB) Close() error { return db.Client.Close() }
