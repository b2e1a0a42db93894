package token

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/internal/batch"
)

// testRedis connects to the test Redis (TEST_REDIS_URL): this package's
// own tests cannot use apptest, which imports it. Unreachable, the test
// is skipped locally and fails in CI.
func testRedis(t *testing.T) *redis.Client {
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Redis at %s: %v", url, err)
		}
		t.Skip(err)
	}
	return rdb
}

// gatedSource is a DenialSource whose LiveDenials, once gate is set,
// waits for it to close (a rebuild that takes a while).
type gatedSource struct {
	denials []Denial
	gate    atomic.Pointer[chan struct{}]
}

func (s *gatedSource) LiveDenials(ctx context.Context, _ time.Time) ([]Denial, error) {
	if g := s.gate.Load(); g != nil {
		<-*g
	}
	return s.denials, nil
}

// TestPipelinedLookupAfterGuardTrips: a lookup that passed Denied's
// ready check, then waited for a slot, must not be answered from an index
// that the guard has meanwhile declared not whole (a master changed: the
// failover replica lacks a denial, Check is rebuilding). Before batching,
// the MGET went out at once, while the index was still whole.
func TestPipelinedLookupAfterGuardTrips(t *testing.T) {
	ctx := context.Background()
	rdb := testRedis(t)
	prefix := "gqlauth-test:" + strings.ToLower(rand.Text()[:10]) + ":"
	defer func() {
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	}()
	r := NewRedisDenyList(rdb, prefix, time.Minute)
	uid, jti := uuid.NewString(), rand.Text()
	revoked := &Claims{RegisteredClaims: jwt.RegisteredClaims{ID: jti, Subject: uid, IssuedAt: jwt.NewNumericDate(time.Now())}, SessionID: uuid.NewString()}
	other := &Claims{RegisteredClaims: jwt.RegisteredClaims{ID: rand.Text(), Subject: uuid.NewString(), IssuedAt: jwt.NewNumericDate(time.Now())}, SessionID: uuid.NewString()}
	src := &gatedSource{denials: []Denial{{UserID: uid, TokenID: jti}}}
	r.Guard(src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := r.Check(ctx); err != nil { // first check: writes the epoch
		t.Fatal(err)
	}
	if err := r.DenyToken(ctx, uid, jti); err != nil {
		t.Fatal(err)
	}

	// One slot, held by a slow lookup (Redis answering slowly).
	hold := make(chan struct{})
	var first atomic.Bool
	r.lookups = batch.New(1, func(ctx context.Context, keys [][]string) []batch.Result[[]any] {
		if first.CompareAndSwap(false, true) {
			<-hold
		}
		return r.mget(ctx, keys)
	})
	go r.Denied(ctx, other)
	time.Sleep(50 * time.Millisecond)

	// The revoked token's lookup: the index is whole now, and it waits.
	type answer struct {
		denied bool
		err    error
	}
	got := make(chan answer, 1)
	go func() {
		d, err := r.Denied(ctx, revoked)
		got <- answer{d, err}
	}()
	time.Sleep(50 * time.Millisecond)

	// A failover to a replica that lacks the denial; Check notices the
	// new master and starts rebuilding (ready is false).
	rdb.Del(ctx, prefix+jtiKey(uid, jti))
	r.mu.Lock()
	r.replIDs = map[string]string{"": "the-old-master"}
	r.mu.Unlock()
	gate := make(chan struct{})
	src.gate.Store(&gate)
	checked := make(chan error, 1)
	go func() { checked <- r.Check(ctx) }()
	for r.ready.Load() {
		time.Sleep(time.Millisecond)
	}

	close(hold) // the slot frees; the waiting lookup goes to Redis now
	a := <-got
	close(gate)
	if err := <-checked; err != nil {
		t.Fatal(err)
	}
	if a.err == nil && !a.denied {
		t.Fatal("a revoked token was answered \"not denied\" from an index the guard had declared not whole (ready=false, rebuilding)")
	}
}

// TestPipelinedLookupsFailClosedWhenUnreachable: pipelined lookups against a Redis that
// does not answer all fail (closed), none panics or answers "not denied".
func TestPipelinedLookupsFailClosedWhenUnreachable(t *testing.T) {
	for name, rdb := range map[string]redis.UniversalClient{
		"client":  redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: 1, DialTimeout: 200 * time.Millisecond}),
		"cluster": redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, MaxRetries: 1, DialTimeout: 200 * time.Millisecond}),
	} {
		t.Run(name, func(t *testing.T) {
			defer rdb.Close()
			r := NewRedisDenyList(rdb, "gqlauth-test:", time.Minute)
			r.lookups = batch.New(1, r.mget)
			var bad atomic.Int32
			done := make(chan struct{})
			for range 20 {
				go func() {
					defer func() { done <- struct{}{} }()
					c := &Claims{RegisteredClaims: jwt.RegisteredClaims{ID: rand.Text(), Subject: uuid.NewString()}, SessionID: uuid.NewString()}
					if d, err := r.Denied(context.Background(), c); err == nil && !d {
						bad.Add(1)
					}
				}()
			}
			for range 20 {
				<-done
			}
			if bad.Load() != 0 {
				t.Fatalf("%d lookups answered not denied", bad.Load())
			}
		})
	}
}
