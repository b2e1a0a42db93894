package database

import (
	"context"
	"sync/atomic"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/batch"
)

// CountUserFetches makes ReadUser run at most limit statements at once
// and counts them: the statements run, and the keys they answered.
func CountUserFetches(db *DB, limit int) (statements, keys *atomic.Int64) {
	statements, keys = new(atomic.Int64), new(atomic.Int64)
	db.users = batch.New(limit, func(ctx context.Context, ks []userKey) []batch.Result[*ent.User] {
		statements.Add(1)
		keys.Add(int64(len(ks)))
		return db.fetchUsers(ctx, ks)
	})
	return statements, keys
}
