package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// seedBatch is how many users one COPY writes.
const seedBatch = 50_000

// benchEmail is the email of the i-th seeded user.
func benchEmail(i int) string { return fmt.Sprintf("user%07d@bench.example", i) }

// seedUsers adds users from..to-1 (emails benchEmail(i)), all with the
// same password hash, in batches of COPY, and returns their ids in order.
// Ids are UUIDv7 like gqlauth's own, so they grow with i.
func seedUsers(ctx context.Context, pool *pgxpool.Pool, from, to int, hash []byte, role string) ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, 0, to-from)
	cols := []string{"id", "created_at", "updated_at", "email", "password_hash", "role"}
	for start := from; start < to; start += seedBatch {
		end := min(start+seedBatch, to)
		rows := make([][]any, 0, end-start)
		now := time.Now()
		for i := start; i < end; i++ {
			id := uuid.Must(uuid.NewV7())
			ids = append(ids, id)
			rows = append(rows, []any{id, now, now, benchEmail(i), string(hash), role})
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"users"}, cols, pgx.CopyFromRows(rows)); err != nil {
			return nil, fmt.Errorf("copy users %d..%d: %w", start, end, err)
		}
	}
	return ids, nil
}
