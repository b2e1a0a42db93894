package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/ratelimit"
)

// counters runs fn on the in-process counter and the Redis one on the
// shared Redis, a cluster and Sentinel.
func counters(t *testing.T, fn func(t *testing.T, c ratelimit.Counter)) {
	t.Run("memory", func(t *testing.T) { fn(t, ratelimit.NewMemoryCounter()) })
	for _, target := range apptest.RedisTargets(t) {
		t.Run(target.Name, func(t *testing.T) {
			rdb, prefix := target.Client(t)
			fn(t, ratelimit.NewRedisCounter(rdb, prefix))
		})
	}
}

// TestLockoutIsAtomic starts 200 attempts at once: exactly max go ahead.
func TestLockoutIsAtomic(t *testing.T) {
	counters(t, func(t *testing.T, c ratelimit.Counter) {
		l := ratelimit.NewLockout(c, 5, time.Minute)
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wait, err := l.Begin(context.Background(), "acct")
				if err != nil {
					t.Error(err)
				}
				if wait == 0 {
					allowed.Add(1)
				} else if wait < time.Second || wait > time.Minute {
					t.Errorf("wait %v", wait)
				}
			}()
		}
		wg.Wait()
		if n := allowed.Load(); n != 5 {
			t.Fatalf("%d attempts went ahead, want 5", n)
		}
		if wait, _ := l.Begin(context.Background(), "other"); wait != 0 {
			t.Fatal("another account is locked too")
		}
		if err := l.Reset(context.Background(), "acct"); err != nil {
			t.Fatal(err)
		}
		if wait, _ := l.Begin(context.Background(), "acct"); wait != 0 {
			t.Fatal("still locked after Reset")
		}
	})
}

// TestCounterWindowEnds checks a count starts over after its window.
func TestCounterWindowEnds(t *testing.T) {
	counters(t, func(t *testing.T, c ratelimit.Counter) {
		ctx := context.Background()
		n, left, err := c.Incr(ctx, "k", 300*time.Millisecond)
		if err != nil || n != 1 || left <= 0 || left > 300*time.Millisecond {
			t.Fatalf("first Incr = %d, %v, %v", n, left, err)
		}
		if n, _, _ := c.Incr(ctx, "k", 300*time.Millisecond); n != 2 {
			t.Fatalf("second Incr = %d", n)
		}
		time.Sleep(400 * time.Millisecond)
		if n, _, _ := c.Incr(ctx, "k", 300*time.Millisecond); n != 1 {
			t.Fatalf("Incr after the window = %d, want 1", n)
		}
	})
}

// TestBuckets checks a bucket allows its burst, then refuses with a wait,
// per key, on both implementations.
func TestBuckets(t *testing.T) {
	buckets := map[string]ratelimit.Buckets{"memory": ratelimit.NewMemoryBuckets(3)}
	for _, target := range apptest.RedisTargets(t) {
		rdb, prefix := target.Client(t)
		buckets[target.Name] = ratelimit.NewRedisBuckets(rdb, prefix, 3)
	}
	for name, b := range buckets {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for i := 0; i < 3; i++ {
				if wait, err := b.Allow(ctx, "ip-a"); err != nil || wait != 0 {
					t.Fatalf("request %d: wait %v, %v", i+1, wait, err)
				}
			}
			wait, err := b.Allow(ctx, "ip-a")
			if err != nil || wait < time.Second || wait > 20*time.Second {
				t.Fatalf("fourth request: wait %v, %v (one token comes back every 20s)", wait, err)
			}
			if wait, _ := b.Allow(ctx, "ip-b"); wait != 0 {
				t.Fatal("another key shares the bucket")
			}
		})
	}
}

// TestRedisUnavailable checks the Redis flavours report an error (the
// callers fail closed) instead of allowing.
func TestRedisUnavailable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	if _, err := ratelimit.NewRedisBuckets(rdb, "x:", 3).Allow(context.Background(), "k"); err == nil {
		t.Error("buckets without Redis: no error")
	}
	if _, err := ratelimit.NewLockout(ratelimit.NewRedisCounter(rdb, "x:"), 3, time.Minute).Begin(context.Background(), "k"); err == nil {
		t.Error("lockout without Redis: no error")
	}
}
