package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

func TestLogoutSurvivesRestartWithRedis(t *testing.T) {
	redisBackends := []apptest.Backend{apptest.AllBackends[1], apptest.AllBackends[3]}
	apptest.ForEach(t, redisBackends, func(t *testing.T, b apptest.Backend) {
		if !b.Redis {
			t.Fatalf("backend %s has no Redis", b.Name)
		}
		cfg := apptest.Config(t, b, nil)
		first := apptest.Start(t, cfg)
		local, global := first.Client(), first.Client()
		pl := local.SignUp(t, apptest.UniqueEmail("restart-local"), password)
		gEmail := apptest.UniqueEmail("restart-global")
		pg := global.SignUp(t, gEmail, password)
		other := first.Client()
		po := other.SignIn(t, gEmail, password)
		wantOK(t, logout(t, local, "LOCAL", ""))
		wantOK(t, logout(t, global, "GLOBAL", ""))
		first.Close()

		second := apptest.Start(t, cfg)
		for name, at := range map[string]string{"LOCAL": pl.AccessToken, "GLOBAL": pg.AccessToken, "GLOBAL (other session)": po.AccessToken} {
			if code := meCode(t, second, at); code != "UNAUTHENTICATED" {
				t.Fatalf("%s logout forgotten after restart: me answered %q", name, code)
			}
		}
		// The restarted server has the same database: sign-in works.
		c := second.Client()
		p := c.SignIn(t, gEmail, password)
		if code := meCode(t, second, p.AccessToken); code != "" {
			t.Fatalf("sign-in after restart refused: %s", code)
		}
	})
}

func TestRedisOutageFailsClosed(t *testing.T) {
	rs := apptest.StartRedis(t)
	srv := apptest.New(t, apptest.Backend{Name: "sqlite+private-redis"}, map[string]string{"REDIS_URL": rs.URL()})
	c := srv.Client()
	p := c.SignUp(t, apptest.UniqueEmail("outage"), password)
	wantOK(t, c.Do(t, meDoc, nil))

	rs.Kill(t)
	began := time.Now()
	wantCode(t, c.Do(t, meDoc, nil), "SERVICE_UNAVAILABLE")
	t.Logf("a request with Redis down fails closed after %v", time.Since(began).Round(time.Millisecond))
	for name, res := range map[string]*apptest.Response{
		"me":            c.Do(t, meDoc, nil),
		"refreshTokens": c.Do(t, tokensDoc, map[string]any{"u": p.User.ID}),
		"logout":        logout(t, c, "LOCAL", ""),
		"revoke":        c.Do(t, revokeDoc, map[string]any{"t": *p.RefreshToken}),
	} {
		if res.Code() != "SERVICE_UNAVAILABLE" {
			t.Fatalf("%s with Redis down: %s", name, res.Body)
		}
		if strings.Contains(strings.ToLower(res.Errors[0].Message), "dial") || strings.Contains(res.Errors[0].Message, rs.Port) {
			t.Fatalf("%s leaks the cause: %q", name, res.Errors[0].Message)
		}
	}
	// Logging out with the refresh token alone (the cookie flow, after the
	// access token is gone) needs the deny list too, and must be retryable.
	anon := srv.Client()
	wantCode(t, logout(t, anon, "LOCAL", *p.RefreshToken), "SERVICE_UNAVAILABLE")
	wantCode(t, logout(t, anon, "GLOBAL", *p.RefreshToken), "SERVICE_UNAVAILABLE")
	// Nothing was revoked while the deny list could not be written.
	if rt := dbToken(t, srv, *p.RefreshToken); rt.RevokedAt != nil {
		t.Fatalf("logout with Redis down revoked the session half-way")
	}

	// Back up: requests work again without restarting gqlauth. The Redis
	// client redials a failed pool about once a second, so allow a few.
	rs.Start(t)
	back := time.Now()
	for res := c.Do(t, meDoc, nil); len(res.Errors) > 0; res = c.Do(t, meDoc, nil) {
		if res.Code() != "SERVICE_UNAVAILABLE" || time.Since(back) > 10*time.Second {
			t.Fatalf("after Redis came back: %s", res.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("requests work again %v after Redis came back", time.Since(back).Round(time.Millisecond))
	wantOK(t, logout(t, anon, "LOCAL", *p.RefreshToken))
	wantCode(t, c.Do(t, meDoc, nil), "UNAUTHENTICATED")
}

// commandLog records the Redis commands a client sends, one entry per
// round trip (a pipeline counts once).
type commandLog struct {
	mu   sync.Mutex
	cmds []string
}

func (l *commandLog) add(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds = append(l.cmds, name)
}

func (l *commandLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.cmds
	l.cmds = nil
	return out
}

func (l *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		// The deny list's background check of its index (every 500 ms)
		// is no request's round trip.
		if name := cmd.Name(); name == "info" || (name == "get" && strings.HasSuffix(fmt.Sprint(cmd.Args()...), "epoch")) {
			return next(ctx, cmd)
		}
		l.add(cmd.Name())
		return next(ctx, cmd)
	}
}

func (l *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		l.add("pipeline")
		return next(ctx, cmds)
	}
}

func TestOneRedisRoundTripPerRequest(t *testing.T) {
	srv := apptest.New(t, apptest.AllBackends[1], nil) // sqlite+redis
	c := srv.Client()
	p := c.SignUp(t, apptest.UniqueEmail("roundtrip"), password)
	log := &commandLog{}
	srv.Redis.AddHook(log)

	// Two fields that both need the viewer: the token is checked once.
	wantOK(t, c.Do(t, `query($u: ID!) { me { id } refreshTokens(userId: $u) { id } }`, map[string]any{"u": p.User.ID}))
	if cmds := log.take(); len(cmds) != 1 || cmds[0] != "mget" {
		t.Fatalf("an authenticated request sent %v to Redis, want one mget", cmds)
	}
	// Operations that need no viewer never ask the deny list; signIn
	// only counts the attempt for the lockout (one script, one reset).
	srv.Client().SignIn(t, *p.User.Email, password)
	if cmds := log.take(); slices.Contains(cmds, "mget") || len(cmds) > 2 {
		t.Fatalf("signIn sent %v to Redis, want only the lockout's evalsha and del", cmds)
	}
}
