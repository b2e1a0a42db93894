// Package ratelimit throttles credential guessing. Buckets is a token
// bucket per key (gqlauth keys it by client address) and Lockout counts
// failed attempts per account within a window. Each comes in a Redis
// flavour, shared by every gqlauth instance and atomic across them, and an
// in-process flavour for a single instance without REDIS_URL.
package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

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
// perMinute) kept in Redis under keys "<prefix>rate:<key>" (GCRA, one Lua
// call per event; see gcraScript).
func NewRedisBuckets(rdb redis.UniversalClient, prefix string, perMinute int) *RedisBuckets {
	return &RedisBuckets{rdb: rdb, prefix: prefix + "rate:", perMinute: perMinute}
}

// RedisBuckets is Buckets shared through Redis.
type RedisBuckets struct {
	rdb       redis.UniversalClient
	prefix    string
	perMinute int
}

// gcraScript is the generic cell rate algorithm of go-redis/redis_rate
// (itself from rwz/redis-gcra), which gqlauth used until it needed every
// key under REDIS_KEY_PREFIX: redis_rate puts its own "rate:" in front of
// every key, so a Redis ACL user limited to the prefix could not sign in.
// The key holds the theoretical arrival time (TAT) of the next event, in
// seconds since 2017 on Redis's clock; an event is allowed when the TAT
// is no further ahead than the burst. ARGV: burst, rate, period (seconds).
// It returns {allowed (0 or 1), retry after (seconds, a string)}.
var gcraScript = redis.NewScript(`
local burst = tonumber(ARGV[1])
local emission = tonumber(ARGV[3]) / tonumber(ARGV[2])
local t = redis.call('TIME')
local now = (t[1] - 1483228800) + (t[2] / 1000000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local newTat = tat + emission
local diff = now - (newTat - emission * burst)
if diff < 0 then
  return {0, tostring(-diff)}
end
redis.call('SET', KEYS[1], tostring(newTat), 'EX', math.ceil(newTat - now))
return {1, '0'}`)

// Allow implements Buckets.
func (b *RedisBuckets) Allow(ctx context.Context, key string) (time.Duration, error) {
	res, err := gcraScript.Run(ctx, b.rdb, []string{b.prefix + key}, b.perMinute, b.perMinute, 60).Slice()
	if err != nil || len(res) != 2 {
		return 0, fmt.Errorf("rate limit: %w", err)
	}
	if allowed, _ := res[0].(int64); allowed == 1 {
		return 0, nil
	}
	s, _ := res[1].(string)
	retry, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("rate limit: %w", err)
	}
	return atLeastASecond(time.Duration(retry * float64(time.Second))), nil
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
