package token_test

import (
	"context"
	"crypto/rand"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/token"
)

// denyListImpl makes fresh deny lists of one implementation. advance
// moves that deny list's time forward: a fake clock for the in-process
// one, real waiting for Redis (whose keys expire on Redis's clock).
type denyListImpl struct {
	name string
	make func(t testing.TB, ttl time.Duration) (d token.DenyList, advance func(time.Duration))
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newMemory(_ testing.TB, ttl time.Duration) (token.DenyList, func(time.Duration)) {
	m := token.NewMemoryDenyList(ttl)
	clock := &fakeClock{t: time.Now()}
	token.SetNow(m, clock.now)
	return m, clock.advance
}

// redisClient connects to the test Redis and returns a key prefix of the
// test's own (skipped locally, failed in CI, when Redis is unreachable).
func redisClient(t testing.TB) (*redis.Client, string) {
	prefix := apptest.NewRedisPrefix(t)
	opts, err := redis.ParseURL(apptest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	return rdb, prefix
}

func newRedis(t testing.TB, ttl time.Duration) (token.DenyList, func(time.Duration)) {
	rdb, prefix := redisClient(t)
	return token.NewRedisDenyList(rdb, prefix, ttl), time.Sleep
}

// denyListImpls are the in-process list and the Redis one on the shared
// Redis, a cluster and Sentinel (started for the calling test).
func denyListImpls(t *testing.T) []denyListImpl {
	impls := []denyListImpl{{name: "memory", make: newMemory}}
	for _, target := range apptest.RedisTargets(t) {
		impls = append(impls, denyListImpl{name: target.Name, make: func(t testing.TB, ttl time.Duration) (token.DenyList, func(time.Duration)) {
			rdb, prefix := target.Client(t)
			return token.NewRedisDenyList(rdb, prefix, ttl), time.Sleep
		}})
	}
	return impls
}

// claimsOf builds the claims of an access token issued at iat.
func claimsOf(jti, sid, userID string, iat time.Time) *token.Claims {
	return &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{ID: jti, Subject: userID, IssuedAt: jwt.NewNumericDate(iat)},
		SessionID:        sid,
	}
}

// TestDenyListsAgree runs one table of cases against both deny lists: the
// in-process one must behave exactly like the Redis one.
func TestDenyListsAgree(t *testing.T) {
	ctx := context.Background()
	jti, sid, uid := rand.Text(), uuid.NewString(), uuid.NewString()
	at := time.Unix(time.Now().Unix(), 0) // a whole second, like iat
	tok := claimsOf(jti, sid, uid, at.Add(-10*time.Second))

	cases := []struct {
		name  string
		setup func(d token.DenyList) error
		check *token.Claims
		want  bool
	}{
		{"empty list", func(token.DenyList) error { return nil }, tok, false},
		{"denied jti", func(d token.DenyList) error { return d.DenyToken(ctx, uid, jti) }, tok, true},
		{"other jti", func(d token.DenyList) error { return d.DenyToken(ctx, uid, rand.Text()) }, tok, false},
		{"denied session among several", func(d token.DenyList) error {
			return d.DenySessions(ctx, uid, uuid.NewString(), sid, uuid.NewString())
		}, tok, true},
		{"other session", func(d token.DenyList) error { return d.DenySessions(ctx, uid, uuid.NewString()) }, tok, false},
		{"no sessions", func(d token.DenyList) error { return d.DenySessions(ctx, uid) }, tok, false},
		{"user not-before after iat", func(d token.DenyList) error { return d.DenyUserBefore(ctx, uid, at) }, tok, true},
		{"user not-before in the second of iat", func(d token.DenyList) error { return d.DenyUserBefore(ctx, uid, at) },
			claimsOf(jti, sid, uid, at.Add(500*time.Millisecond)), false},
		{"user not-before before iat", func(d token.DenyList) error { return d.DenyUserBefore(ctx, uid, at) },
			claimsOf(jti, sid, uid, at.Add(5*time.Second)), false},
		{"other user's not-before", func(d token.DenyList) error { return d.DenyUserBefore(ctx, uuid.NewString(), at) }, tok, false},
		{"not-before never moves back", func(d token.DenyList) error {
			if err := d.DenyUserBefore(ctx, uid, at); err != nil {
				return err
			}
			return d.DenyUserBefore(ctx, uid, at.Add(-time.Hour))
		}, tok, true},
		{"not-before moves forward", func(d token.DenyList) error {
			if err := d.DenyUserBefore(ctx, uid, at.Add(-time.Hour)); err != nil {
				return err
			}
			return d.DenyUserBefore(ctx, uid, at)
		}, tok, true},
		{"token without iat under a not-before", func(d token.DenyList) error { return d.DenyUserBefore(ctx, uid, at) },
			&token.Claims{RegisteredClaims: jwt.RegisteredClaims{ID: jti, Subject: uid}, SessionID: sid}, true},
	}
	for _, impl := range denyListImpls(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Run("pipelined", func(t *testing.T) { deniedPipelined(t, impl) })
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					d, _ := impl.make(t, time.Minute)
					if err := tc.setup(d); err != nil {
						t.Fatalf("setup: %v", err)
					}
					got, err := d.Denied(ctx, tc.check)
					if err != nil {
						t.Fatalf("Denied: %v", err)
					}
					if got != tc.want {
						t.Fatalf("Denied = %v, want %v", got, tc.want)
					}
				})
			}
		})
	}
}

// TestDenyListEntriesExpire checks that every kind of entry lasts one
// access-token lifetime, then goes: memory stays bounded.
func TestDenyListEntriesExpire(t *testing.T) {
	ctx := context.Background()
	const ttl = time.Second
	for _, impl := range denyListImpls(t) {
		t.Run(impl.name, func(t *testing.T) {
			d, advance := impl.make(t, ttl)
			now := time.Now()
			byJTI := claimsOf(rand.Text(), uuid.NewString(), uuid.NewString(), now)
			bySID := claimsOf(rand.Text(), uuid.NewString(), uuid.NewString(), now)
			byUser := claimsOf(rand.Text(), uuid.NewString(), uuid.NewString(), now.Add(-time.Minute))
			if err := d.DenyToken(ctx, byJTI.Subject, byJTI.ID); err != nil {
				t.Fatal(err)
			}
			if err := d.DenySessions(ctx, bySID.Subject, bySID.SessionID); err != nil {
				t.Fatal(err)
			}
			if err := d.DenyUserBefore(ctx, byUser.Subject, now); err != nil {
				t.Fatal(err)
			}
			check := func(want bool) {
				t.Helper()
				for name, c := range map[string]*token.Claims{"jti": byJTI, "sid": bySID, "user": byUser} {
					got, err := d.Denied(ctx, c)
					if err != nil {
						t.Fatal(err)
					}
					if got != want {
						t.Fatalf("%s entry: Denied = %v, want %v", name, got, want)
					}
				}
			}
			advance(ttl / 2)
			check(true)
			advance(ttl/2 + 300*time.Millisecond)
			check(false)
		})
	}
}

// TestMemoryDenyListDropsExpiredEntries checks that expired entries are
// removed from memory, not just ignored.
func TestMemoryDenyListDropsExpiredEntries(t *testing.T) {
	ctx := context.Background()
	d, advance := newMemory(t, time.Minute)
	m := d.(*token.MemoryDenyList)
	for i := range 100 {
		if err := m.DenyToken(ctx, "u", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() != 100 {
		t.Fatalf("Len = %d, want 100", m.Len())
	}
	advance(2 * time.Minute)
	if err := m.DenyToken(ctx, "u", "new"); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d after expiry, want 1", m.Len())
	}
}

// TestRedisDenyListKeysHaveTTL checks that every key Redis holds expires
// within one access-token lifetime.
func TestRedisDenyListKeysHaveTTL(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redisClient(t)
	d := token.NewRedisDenyList(rdb, prefix, time.Minute)
	if err := d.DenyToken(ctx, "u", "j"); err != nil {
		t.Fatal(err)
	}
	if err := d.DenySessions(ctx, "u", "s1", "s2"); err != nil {
		t.Fatal(err)
	}
	if err := d.DenyUserBefore(ctx, "u", time.Now()); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 {
		t.Fatalf("keys %v, want 4", keys)
	}
	// One user's keys share a hash slot: a cluster reads them in one MGET.
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) || !strings.Contains(k, "{u}") {
			t.Fatalf("key %s is not under the prefix and the user's hash tag", k)
		}
	}
	for _, k := range keys {
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > time.Minute {
			t.Fatalf("key %s has TTL %v, want (0, 1m]", k, ttl)
		}
	}
}

// TestRedisDenyListUnreachable checks that an unreachable Redis is an
// error (the caller fails closed), never "not denied".
func TestRedisDenyListUnreachable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	d := token.NewRedisDenyList(rdb, "gqlauth-test:", time.Minute)
	denied, err := d.Denied(context.Background(), claimsOf("j", uuid.NewString(), uuid.NewString(), time.Now()))
	if err == nil || denied {
		t.Fatalf("Denied = %v, %v; want an error", denied, err)
	}
}

// BenchmarkDenied measures the check every authenticated request makes,
// against a list holding 10,000 denied sessions, for a token that is not
// denied (the common case, and the one that looks at all three entries).
func BenchmarkDenied(b *testing.B) {
	ctx := context.Background()
	for _, impl := range []struct {
		name string
		make func(b *testing.B) token.DenyList
	}{
		{"Memory", func(b *testing.B) token.DenyList { d, _ := newMemory(b, 15*time.Minute); return d }},
		{"Redis", func(b *testing.B) token.DenyList { d, _ := newRedis(b, 15*time.Minute); return d }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			d := impl.make(b)
			sids := make([]string, 10_000)
			for i := range sids {
				sids[i] = uuid.NewString()
			}
			if err := d.DenySessions(ctx, "someone", sids...); err != nil {
				b.Fatal(err)
			}
			if err := d.DenyUserBefore(ctx, "someone", time.Now()); err != nil {
				b.Fatal(err)
			}
			c := claimsOf(rand.Text(), uuid.NewString(), uuid.NewString(), time.Now())
			b.Run("serial", func(b *testing.B) {
				for b.Loop() {
					if denied, err := d.Denied(ctx, c); err != nil || denied {
						b.Fatalf("Denied = %v, %v", denied, err)
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if denied, err := d.Denied(ctx, c); err != nil || denied {
							b.Errorf("Denied = %v, %v", denied, err)
							return
						}
					}
				})
			})
		})
	}
}

// deniedPipelined: lookups that come while one is in flight go to Redis
// pipelined together (on a cluster, split by node), and each gets its
// own token's answer: denied by token, by session, by the user's
// not-before, or not at all.
func deniedPipelined(t *testing.T, impl denyListImpl) {
	ctx := context.Background()
	d, _ := impl.make(t, time.Minute)
	r, ok := d.(*token.RedisDenyList)
	if !ok {
		return // the in-process list has no round trip to share
	}
	at := time.Unix(time.Now().Unix(), 0)
	type user struct {
		claims *token.Claims
		denied bool
	}
	var users []user
	for i := range 24 {
		c := claimsOf(rand.Text(), uuid.NewString(), uuid.NewString(), at.Add(-10*time.Second))
		var err error
		switch i % 4 {
		case 0:
			err = d.DenyToken(ctx, c.Subject, c.ID)
		case 1:
			err = d.DenySessions(ctx, c.Subject, c.SessionID)
		case 2:
			err = d.DenyUserBefore(ctx, c.Subject, at)
		}
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, user{c, i%4 != 3})
	}
	sends, lookups := token.CountLookups(r, 1)
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				got, err := d.Denied(ctx, u.claims)
				if err != nil || got != u.denied {
					t.Errorf("Denied(%s) = %v, %v; want %v", u.claims.Subject, got, err, u.denied)
					return
				}
			}
		}()
	}
	wg.Wait()
	if s, l := sends.Load(), lookups.Load(); l != int64(5*len(users)) || s >= l {
		t.Errorf("%d lookups in %d sends: none pipelined", l, s)
	}
}
