// Package ratelimit throttles credential guessing. Buckets is a token
// bucket per key (gqlauth keys it by client address) and Lockout counts
// failed attempts per account within a window. Each comes in a Redis
// flavour, shared by every gqlauth instance and atomic across them, and an
// in-process flavour for a single instance without REDIS_URL.
package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Buckets is a token bucket per key: a key may spend its burst at once and
// then earns tokens back at a steady rate.
type Buckets interface {
	// Allow takes one token of key's bucket. It returns 0 when the event
	// may happen, else how long until a token is available.
	Allow(ctx context.Context, key string) (time.Duration, error)
}

// NewRedisBuckets returns buckets of perMinute tokens per minute (burst
// perMinute) kept in Redis by go-redis/redis_rate (GCRA, one Lua call per
// event), under keys "rate:<prefix><key>".
func NewRedisBuckets(rdb redis.UniversalClient, prefix string, perMinute int) *RedisBuckets {
	return &RedisBuckets{limiter: redis_rate.NewLimiter(rdb), prefix: prefix, limit: redis_rate.PerMinute(perMinute)}
}

// RedisBuckets is Buckets shared through Redis.
type RedisBuckets struct {
	limiter *redis_rate.Limiter
	prefix  string
	limit   redis_rate.Limit
}

// Allow implements Buckets.
func (b *RedisBuckets) Allow(ctx context.Context, key string) (time.Duration, error) {
	res, err := b.limiter.Allow(ctx, b.prefix+key, b.limit)
	if err != nil {
		return 0, fmt.Errorf("rate limit: %w", err)
	}
	if res.Allowed > 0 {
		return 0, nil
	}
	return atLeastASecond(res.RetryAfter), nil
}

// NewMemoryBuckets returns in-process buckets of perMinute tokens per
// minute (burst perMinute), using golang.org/x/time/rate.
func NewMemoryBuckets(perMinute int) *MemoryBuckets {
	return &MemoryBuckets{
		every:   time.Minute / time.Duration(perMinute),
		burst:   perMinute,
		buckets: map[string]*rate.Limiter{},
		now:     time.Now,
	}
}

// MemoryBuckets is Buckets for one process. Full buckets are forgotten
// once a minute, so the map holds only clients seen recently.
type MemoryBuckets struct {
	mu        sync.Mutex
	every     time.Duration
	burst     int
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
	now       func() time.Time
}

// Allow implements Buckets.
func (b *MemoryBuckets) Allow(_ context.Context, key string) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if now.Sub(b.lastSweep) > time.Minute {
		for k, l := range b.buckets {
			if l.TokensAt(now) >= float64(b.burst) {
				delete(b.buckets, k) // a full bucket is the same as a new one
			}
		}
		b.lastSweep = now
	}
	l, ok := b.buckets[key]
	if !ok {
		l = rate.NewLimiter(rate.Every(b.every), b.burst)
		b.buckets[key] = l
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return atLeastASecond(d), nil
	}
	return 0, nil
}

// atLeastASecond rounds a wait up to whole seconds, the unit clients get.
func atLeastASecond(d time.Duration) time.Duration {
	if d < time.Second {
		return time.Second
	}
	return d
}
