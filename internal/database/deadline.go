package database

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// deadlineDriver gives every statement ent sends a deadline
// (DATABASE_STATEMENT_TIMEOUT), so that no request can hold a connection,
// or a PostgreSQL backend, for longer. On PostgreSQL the server enforces
// the same bound itself (statement_timeout); this one also covers SQLite,
// whose driver interrupts a statement when its context ends.
//
// A transaction is not given the deadline as a whole: each of its
// statements is.
type deadlineDriver struct {
	*entsql.Driver
	timeout time.Duration
}

var _ dialect.Driver = deadlineDriver{}

// Exec runs a statement under the deadline.
func (d deadlineDriver) Exec(ctx context.Context, query string, args, v any) error {
	return execWithDeadline(ctx, d.timeout, d.Driver.Exec, query, args, v)
}

// Query runs a query under the deadline, which ends when its rows are closed.
func (d deadlineDriver) Query(ctx context.Context, query string, args, v any) error {
	return queryWithDeadline(ctx, d.timeout, d.Driver.Query, query, args, v)
}

// Tx starts a transaction whose statements each have the deadline.
func (d deadlineDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	return d.BeginTx(ctx, nil)
}

// BeginTx starts a transaction with options whose statements each have
// the deadline (ent's Client.BeginTx calls it).
func (d deadlineDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	tx, err := d.Driver.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &deadlineTx{Tx: tx, timeout: d.timeout}, nil
}

// deadlineTx is a transaction whose statements each have a deadline.
type deadlineTx struct {
	dialect.Tx
	timeout time.Duration
	// cancels release the deadlines of QueryContext's rows, whose end
	// nothing reports: when the transaction ends.
	cancels []context.CancelFunc
}

// Commit commits the transaction and releases its queries' deadlines.
func (t *deadlineTx) Commit() error {
	defer t.release()
	return t.Tx.Commit()
}

// Rollback rolls the transaction back and releases its queries'
// deadlines.
func (t *deadlineTx) Rollback() error {
	defer t.release()
	return t.Tx.Rollback()
}

func (t *deadlineTx) release() {
	for _, cancel := range t.cancels {
		cancel()
	}
	t.cancels = nil
}

// Exec runs a statement of the transaction under the deadline.
func (t *deadlineTx) Exec(ctx context.Context, query string, args, v any) error {
	return execWithDeadline(ctx, t.timeout, t.Tx.Exec, query, args, v)
}

// Query runs a query of the transaction under the deadline.
func (t *deadlineTx) Query(ctx context.Context, query string, args, v any) error {
	return queryWithDeadline(ctx, t.timeout, t.Tx.Query, query, args, v)
}

// ExecContext runs a statement written by hand (ent's Tx.ExecContext)
// under the deadline.
func (t *deadlineTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ex, ok := t.Tx.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	})
	if !ok {
		return nil, fmt.Errorf("%T has no ExecContext", t.Tx)
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	return ex.ExecContext(ctx, query, args...)
}

// QueryContext runs a query written by hand (ent's Tx.QueryContext)
// under the deadline, which lasts until the transaction ends (its rows
// are read within it).
func (t *deadlineTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, ok := t.Tx.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	})
	if !ok {
		return nil, fmt.Errorf("%T has no QueryContext", t.Tx)
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		cancel()
		return nil, err
	}
	t.cancels = append(t.cancels, cancel)
	return rows, nil
}

// execWithDeadline runs a statement that returns no rows with a deadline.
func execWithDeadline(ctx context.Context, timeout time.Duration,
	exec func(context.Context, string, any, any) error, q string, args, v any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return exec(ctx, q, args, v)
}

// queryWithDeadline runs query with a deadline that lasts until the rows
// it returns are closed (ent reads them after Query returns).
func queryWithDeadline(ctx context.Context, timeout time.Duration,
	query func(context.Context, string, any, any) error, q string, args, v any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	if err := query(ctx, q, args, v); err != nil {
		cancel()
		return err
	}
	rows, ok := v.(*entsql.Rows)
	if !ok || rows.ColumnScanner == nil {
		cancel()
		return nil
	}
	rows.ColumnScanner = cancelOnClose{ColumnScanner: rows.ColumnScanner, cancel: cancel}
	return nil
}

// cancelOnClose ends a query's deadline when its rows are closed.
type cancelOnClose struct {
	entsql.ColumnScanner
	cancel context.CancelFunc
}

// Close closes the rows, then releases the deadline's timer.
func (c cancelOnClose) Close() error {
	err := c.ColumnScanner.Close()
	c.cancel()
	return err
}
