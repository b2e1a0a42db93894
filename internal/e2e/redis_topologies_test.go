package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// redisTopology is a Redis gqlauth can run on, started by the test.
// lose runs write (a denial) so that it reaches only the node holding
// key, then loses that node's data: restarted empty, or killed while its
// replica, cut off during write, had not received it (a lagging replica
// promoted by the failover).
type redisTopology struct {
	name  string
	start func(t *testing.T) (vars map[string]string, nodes []*apptest.RedisServer, lose func(t *testing.T, key string, write func()))
}

// acl is the user every topology test runs gqlauth as: it may touch only
// keys and channels under the prefix.
const (
	aclUser     = "gqlauth"
	aclPassword = "acl-password-for-tests"
	aclPrefix   = "gqlauth-acl:"
)

var redisTopologies = []redisTopology{
	{"single", func(t *testing.T) (map[string]string, []*apptest.RedisServer, func(*testing.T, string, func())) {
		s := apptest.StartRedis(t)
		return map[string]string{"REDIS_URL": s.URL()}, []*apptest.RedisServer{s}, func(t *testing.T, _ string, write func()) {
			write()
			s.Kill(t)
			s.Start(t) // empty: no persistence
			apptest.SetACLUser(t, aclUser, aclPassword, aclPrefix, s)
		}
	}},
	{"cluster", func(t *testing.T) (map[string]string, []*apptest.RedisServer, func(*testing.T, string, func())) {
		c := apptest.StartCluster(t)
		return map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(c.Addrs(), ",")}, c.Nodes, func(t *testing.T, key string, write func()) {
			m := c.Master(t, key)
			c.ReplicaOf(t, m).CutReplication(t, m)
			write()
			m.Kill(t)
		}
	}},
	{"sentinel", func(t *testing.T) (map[string]string, []*apptest.RedisServer, func(*testing.T, string, func())) {
		s := apptest.StartSentinel(t)
		vars := map[string]string{"REDIS_SENTINEL_ADDRS": strings.Join(s.Addrs(), ","), "REDIS_SENTINEL_MASTER": apptest.SentinelMaster}
		return vars, []*apptest.RedisServer{s.Master, s.Replica}, func(t *testing.T, _ string, write func()) {
			s.Replica.CutReplication(t, s.Master)
			write()
			s.Master.Kill(t)
		}
	}},
}

// TestRedisTopologies runs gqlauth as an ACL user limited to its prefix on
// one node, a cluster and Sentinel: sign-up, logout and the deny list,
// the lockout, the rate limit work, every key is under the prefix; then
// the node holding the data dies (restarted empty, or failed over): requests
// fail closed meanwhile, no denial made before is lost, and gqlauth
// recovers without a restart.
func TestRedisTopologies(t *testing.T) {
	for _, topo := range redisTopologies {
		t.Run(topo.name, func(t *testing.T) {
			began := time.Now()
			vars, nodes, lose := topo.start(t)
			apptest.SetACLUser(t, aclUser, aclPassword, aclPrefix, nodes...)
			vars["REDIS_USERNAME"], vars["REDIS_PASSWORD"] = aclUser, aclPassword
			vars["REDIS_KEY_PREFIX"] = aclPrefix
			vars["LOGIN_MAX_FAILURES"] = "3"
			vars["RATE_LIMIT_AUTH"] = "20"
			srv := apptest.New(t, apptest.Backend{Name: "sqlite+" + topo.name}, vars)

			// Sessions and the deny list.
			gone, live := srv.Client(), srv.Client()
			pGone := gone.SignUp(t, apptest.UniqueEmail("topo-gone"), password)
			email := apptest.UniqueEmail("topo-live")
			pLive := live.SignUp(t, email, password)
			global := srv.Client()
			gEmail := apptest.UniqueEmail("topo-global")
			pGlobal := global.SignUp(t, gEmail, password)
			pGlobal2 := srv.Client().SignIn(t, gEmail, password)
			wantOK(t, logout(t, gone, "LOCAL", ""))
			wantOK(t, logout(t, global, "GLOBAL", ""))
			denied := map[string]string{"LOCAL": pGone.AccessToken, "GLOBAL": pGlobal.AccessToken, "GLOBAL (other session)": pGlobal2.AccessToken}
			for name, at := range denied {
				if code := meCode(t, srv, at); code != "UNAUTHENTICATED" {
					t.Fatalf("%s logout: me answered %q", name, code)
				}
			}
			wantOK(t, live.Do(t, meDoc, nil))

			// The lockout: 3 failures, then even the right password waits.
			victim := apptest.UniqueEmail("topo-lock")
			srv.Client().SignUp(t, victim, password)
			for range 3 {
				wantCode(t, srv.Client().Do(t, signInDoc, signInVars(victim, "wrong password!")), "UNAUTHENTICATED")
			}
			wantCode(t, srv.Client().Do(t, signInDoc, signInVars(victim, password)), "TOO_MANY_REQUESTS")

			// Live events: the instance subscribed to its channel, under
			// the prefix (the ACL user may use no other).
			deadline := time.Now().Add(5 * time.Second)
			for !subscribed(t, nodes, aclPrefix+"session-events") {
				if time.Now().After(deadline) {
					t.Fatal("no subscriber on the live events' channel")
				}
				time.Sleep(50 * time.Millisecond)
			}

			// Every key gqlauth wrote is under the prefix, in the user's slot.
			keys := allKeys(t, nodes)
			for _, want := range []string{aclPrefix + "rate:", aclPrefix + "deny:v2:{", aclPrefix + "deny:v2:epoch"} {
				if !hasPrefixIn(keys, want) {
					t.Fatalf("no key %s… among %v", want, keys)
				}
			}
			for _, k := range keys {
				if !strings.HasPrefix(k, aclPrefix) {
					t.Fatalf("key %q outside the prefix", k)
				}
			}

			// Data loss: a logout reaches only one node, which is killed
			// (and restarted empty, or replaced by its lagging replica).
			// No denied token is ever accepted, and the live one comes
			// back without restarting gqlauth.
			lagging := srv.Client()
			pLagging := lagging.SignUp(t, apptest.UniqueEmail("topo-lagging"), password)
			lose(t, aclPrefix+"deny:v2:{"+pLagging.User.ID+"}:user", func() {
				wantOK(t, logout(t, lagging, "LOCAL", ""))
			})
			denied["LOCAL, just before the loss"] = pLagging.AccessToken
			lost := time.Now()
			var unavailable int
			for {
				for name, at := range denied {
					if code := meCode(t, srv, at); code == "" {
						t.Fatalf("%s logout forgotten after the data loss: me succeeded", name)
					}
				}
				code := live.Do(t, meDoc, nil).Code()
				if code == "" {
					break
				}
				if code != "SERVICE_UNAVAILABLE" {
					t.Fatalf("live session during the data loss: %s", code)
				}
				unavailable++
				if time.Since(lost) > 30*time.Second {
					logs := srv.Logs.String()
					t.Fatalf("gqlauth did not recover within 30s; last logs:\n%s", logs[max(0, len(logs)-3000):])
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("%s: recovered %v after the kill (%d refusals meanwhile)", topo.name, time.Since(lost).Round(time.Millisecond), unavailable)
			for name, at := range denied {
				if code := meCode(t, srv, at); code != "UNAUTHENTICATED" {
					t.Fatalf("%s logout after recovery: me answered %q; the deny list's logs:\n%s", name, code, denyLogs(srv.Logs.String()))
				}
			}
			wantOK(t, logout(t, live, "LOCAL", ""))
			wantCode(t, live.Do(t, meDoc, nil), "UNAUTHENTICATED")
			_ = pLive

			// The rate limit (20 a minute for 127.0.0.1) is shared in Redis.
			var limited bool
			for range 25 {
				if srv.Client().Do(t, signInDoc, signInVars(email, password)).Code() == "TOO_MANY_REQUESTS" {
					limited = true
					break
				}
			}
			if !limited {
				t.Fatal("25 sign-ins in a row were never rate-limited")
			}
			t.Logf("%s: %v in all", topo.name, time.Since(began).Round(time.Millisecond))
		})
	}
}

// TestFlushAllRebuildsTheDenyList checks that a FLUSHALL (Redis keeps
// running) does not bring a logged-out access token back.
func TestFlushAllRebuildsTheDenyList(t *testing.T) {
	s := apptest.StartRedis(t)
	srv := apptest.New(t, apptest.Backend{Name: "sqlite+private-redis"}, map[string]string{"REDIS_URL": s.URL()})
	c, live := srv.Client(), srv.Client()
	p := c.SignUp(t, apptest.UniqueEmail("flush"), password)
	live.SignUp(t, apptest.UniqueEmail("flush-live"), password)
	wantOK(t, logout(t, c, "LOCAL", ""))
	if err := s.Client(t).FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if code := meCode(t, srv, p.AccessToken); code != "UNAUTHENTICATED" && code != "SERVICE_UNAVAILABLE" {
		t.Fatalf("first request after FLUSHALL: me answered %q", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for live.Do(t, meDoc, nil).Code() != "" {
		if time.Now().After(deadline) {
			t.Fatal("no recovery after FLUSHALL")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := meCode(t, srv, p.AccessToken); code != "UNAUTHENTICATED" {
		t.Fatalf("after FLUSHALL and the rebuild: me answered %q", code)
	}
}

func allKeys(t *testing.T, nodes []*apptest.RedisServer) []string {
	t.Helper()
	var keys []string
	for _, n := range nodes {
		if !n.Running() {
			continue
		}
		ks, err := n.Client(t).Keys(context.Background(), "*").Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		keys = append(keys, ks...)
	}
	return keys
}

func hasPrefixIn(keys []string, prefix string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func signInVars(email, pw string) map[string]any {
	return map[string]any{"in": map[string]any{"email": email, "password": pw}}
}

// subscribed reports whether some node has a subscriber on channel.
func subscribed(t *testing.T, nodes []*apptest.RedisServer, channel string) bool {
	t.Helper()
	for _, n := range nodes {
		if !n.Running() {
			continue
		}
		chans, err := n.Client(t).PubSubChannels(context.Background(), channel).Result()
		if err == nil && len(chans) > 0 {
			return true
		}
	}
	return false
}

// denyLogs are the deny list's lines among logs.
func denyLogs(logs string) string {
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "deny list:") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
