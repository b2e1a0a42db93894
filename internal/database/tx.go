package database

import (
	"context"
	"errors"
	"fmt"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/gqlauth/gqlauth/ent"
)

// WithTx runs fn in a transaction, committing when it returns nil and
// rolling back otherwise.
func WithTx(ctx context.Context, db *ent.Client, fn func(tx *ent.Tx) error) error {
	tx, err := db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ForUpdate makes a query lock the rows it returns (SELECT … FOR UPDATE)
// on PostgreSQL; use it as a predicate, e.g. predicate.User(ForUpdate).
// SQLite has no row locks and needs none: gqlauth's SQLite transactions
// take the write lock when they begin (BEGIN IMMEDIATE), so they already
// run one at a time.
func ForUpdate(s *entsql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate()
	}
}
