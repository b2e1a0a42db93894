package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
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
	rs := startRedis(t)
	srv := apptest.New(t, apptest.Backend{Name: "sqlite+private-redis"}, map[string]string{"REDIS_URL": rs.url()})
	c := srv.Client()
	p := c.SignUp(t, apptest.UniqueEmail("outage"), password)
	wantOK(t, c.Do(t, meDoc, nil))

	rs.stop(t)
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
		if strings.Contains(strings.ToLower(res.Errors[0].Message), "dial") || strings.Contains(res.Errors[0].Message, rs.port) {
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
	rs.start(t)
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

// privateRedis is a redis-server of the test's own, which it may stop
// and start (the shared one must never be stopped).
type privateRedis struct {
	port string
	cmd  *exec.Cmd
}

// startRedis starts a redis-server on a free port, stopped when the test ends.
func startRedis(t *testing.T) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is required when CI=true: %v", err)
		}
		t.Skipf("redis-server not installed: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	rs := &privateRedis{port: port}
	rs.start(t)
	t.Cleanup(func() {
		if rs.cmd != nil {
			rs.stop(t)
		}
	})
	return rs
}

func (rs *privateRedis) url() string { return "redis://127.0.0.1:" + rs.port + "/0" }

// start runs redis-server and waits until it answers.
func (rs *privateRedis) start(t *testing.T) {
	t.Helper()
	rs.cmd = exec.Command("redis-server", "--port", rs.port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := rs.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	opts, _ := redis.ParseURL(rs.url())
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := rdb.Ping(context.Background()).Err(); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer: %v", rs.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills the redis-server this test started (by its own process).
func (rs *privateRedis) stop(t *testing.T) {
	t.Helper()
	if err := rs.cmd.Process.Kill(); err != nil {
		t.Fatalf("stop redis-server: %v", err)
	}
	_ = rs.cmd.Wait()
	rs.cmd = nil
	// The port is free once nothing listens there any more.
	for range 100 {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+rs.port, 100*time.Millisecond)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s", fmt.Sprintf("redis-server on %s still answers after kill", rs.port))
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
