package database_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/database"
)

// TestBatchedReadsKeepTheStatementDeadline: with the table locked, the read
// alone and the batch behind it each fail within the statement deadline,
// and callers whose context ends leave at once.
func TestBatchedReadsKeepTheStatementDeadline(t *testing.T) {
	ctx := context.Background()
	db := migrated(t, apptest.NewPostgresDB(t), database.Settings{StatementTimeout: 300 * time.Millisecond})
	u, err := db.User.Create().SetEmail("timeout@example.com").SetPasswordHash("$2a$04$secret").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	database.CountUserFetches(db, 1)
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `LOCK TABLE users IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx := ctx
			if i == 7 { // a client that goes away
				var cancel context.CancelFunc
				rctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
			}
			_, errs[i] = db.ReadUser(rctx, u.ID, []string{user.FieldEmail, uuid.NewString()}[:1])
		}()
		if i == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	wg.Wait()
	took := time.Since(start)
	for i, err := range errs {
		if err == nil {
			t.Errorf("read %d succeeded under a lock", i)
		}
	}
	if took > 2*time.Second {
		t.Errorf("reads took %v under a 300ms statement deadline", took)
	}
	t.Logf("took %v; errors %v", took, errs)
}
