package token

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gqlauth/gqlauth/internal/batch"
)

// SetNow replaces the clock of an in-process deny list, so the shared
// tests in package token_test can move time past an entry's expiry.
func SetNow(m *MemoryDenyList, now func() time.Time) { m.now = now }

// SetStoreNow replaces a key store's clock, so that tests can move time
// past a standby key's publication or a previous key's retirement.
func SetStoreNow(s *KeyStore, now func() time.Time) { s.now = now }

// CountLookups makes r's Denied send at most limit lookups at once (the
// rest pipelined) and counts them: the sends, and the lookups they held.
func CountLookups(r *RedisDenyList, limit int) (sends, lookups *atomic.Int64) {
	sends, lookups = new(atomic.Int64), new(atomic.Int64)
	r.lookups = batch.New(limit, func(ctx context.Context, keys [][]string) []batch.Result[[]any] {
		sends.Add(1)
		lookups.Add(int64(len(keys)))
		return r.mget(ctx, keys)
	})
	return sends, lookups
}
