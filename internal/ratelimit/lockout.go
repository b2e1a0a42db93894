package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Counter counts events per key in fixed windows. Incr must be atomic:
// of n concurrent calls on one key, each sees a different count.
type Counter interface {
	// Incr adds one to key's count, starting a window of the given length
	// when the key has none, and returns the new count and the time left
	// in the window.
	Incr(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error)
	// Delete forgets key's count.
	Delete(ctx context.Context, key string) error
}

// Lockout refuses attempts on an account once it has had max attempts
// within window that did not end in success. An attempt is counted
// before the password is checked (Begin) and forgotten on success
// (Reset), so concurrent guesses cannot get past the limit: of 50
// parallel guesses with max 5, exactly 5 are checked.
type Lockout struct {
	counter Counter
	max     int64
	window  time.Duration
}

// NewLockout returns a Lockout allowing max attempts per window; max 0
// turns it off.
func NewLockout(c Counter, max int, window time.Duration) *Lockout {
	return &Lockout{counter: c, max: int64(max), window: window}
}

// Begin counts one attempt on account and returns 0 when it may go
// ahead, else how long the account stays locked.
func (l *Lockout) Begin(ctx context.Context, account string) (time.Duration, error) {
	if l.max <= 0 {
		return 0, nil
	}
	n, left, err := l.counter.Incr(ctx, account, l.window)
	if err != nil {
		return 0, err
	}
	if n > l.max {
		return atLeastASecond(left), nil
	}
	return 0, nil
}

// Reset forgets account's failed attempts after a success.
func (l *Lockout) Reset(ctx context.Context, account string) error {
	if l.max <= 0 {
		return nil
	}
	return l.counter.Delete(ctx, account)
}

// incrScript is INCR with an expiry set by the first increment, in one
// atomic step; it returns the count and the milliseconds left.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}`)

// RedisCounter is a Counter in Redis, shared by every instance.
type RedisCounter struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisCounter returns a Counter whose keys are prefix+key.
func NewRedisCounter(rdb redis.UniversalClient, prefix string) *RedisCounter {
	return &RedisCounter{rdb: rdb, prefix: prefix}
}

// Incr implements Counter with one Lua call (INCR, PEXPIRE on the first).
func (c *RedisCounter) Incr(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	res, err := incrScript.Run(ctx, c.rdb, []string{c.prefix + key}, window.Milliseconds()).Int64Slice()
	if err != nil || len(res) != 2 {
		return 0, 0, fmt.Errorf("count attempt: %w", err)
	}
	return res[0], time.Duration(res[1]) * time.Millisecond, nil
}

// Delete implements Counter.
func (c *RedisCounter) Delete(ctx context.Context, key string) error {
	if err := c.rdb.Del(ctx, c.prefix+key).Err(); err != nil {
		return fmt.Errorf("reset attempts: %w", err)
	}
	return nil
}

// MemoryCounter is a Counter for one process. Expired windows are swept
// when the map has grown, so it holds only recent keys.
type MemoryCounter struct {
	mu        sync.Mutex
	windows   map[string]*window
	sweepSize int
	now       func() time.Time
}

type window struct {
	count int64
	ends  time.Time
}

// NewMemoryCounter returns an empty in-process Counter.
func NewMemoryCounter() *MemoryCounter {
	return &MemoryCounter{windows: map[string]*window{}, sweepSize: 1024, now: time.Now}
}

// Incr implements Counter.
func (c *MemoryCounter) Incr(_ context.Context, key string, length time.Duration) (int64, time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.windows) >= c.sweepSize {
		for k, w := range c.windows {
			if !now.Before(w.ends) {
				delete(c.windows, k)
			}
		}
		if len(c.windows) >= c.sweepSize {
			c.sweepSize *= 2
		}
	}
	w, ok := c.windows[key]
	if !ok || !now.Before(w.ends) {
		w = &window{ends: now.Add(length)}
		c.windows[key] = w
	}
	w.count++
	return w.count, w.ends.Sub(now), nil
}

// Delete implements Counter.
func (c *MemoryCounter) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.windows, key)
	return nil
}
