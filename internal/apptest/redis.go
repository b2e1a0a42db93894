package apptest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server process of the test's own, which it may
// kill and start again (the shared one must never be stopped). It keeps
// nothing on disk (--save "" --appendonly no): a restart loses every key.
type RedisServer struct {
	Port string
	dir  string
	args []string
	cmd  *exec.Cmd
}

// needBinary skips the test without the Debian binary, or fails it in CI.
func needBinary(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if inCI() {
			t.Fatalf("%s is required when CI=true (.ci/run installs it): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
}

// freePort returns a port nothing listens on, whose cluster bus port
// (port+10000) is free too.
func freePort(t testing.TB) string {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return strconv.Itoa(port)
	}
	t.Fatal("no free port pair for redis-server")
	return ""
}

// StartRedis starts a redis-server on a free port with extra arguments
// (e.g. "--cluster-enabled", "yes"); it is killed when the test ends.
func StartRedis(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	needBinary(t, "redis-server")
	s := &RedisServer{Port: freePort(t), dir: t.TempDir(), args: extra}
	s.Start(t)
	t.Cleanup(func() {
		if s.cmd != nil {
			s.Kill(t)
		}
	})
	return s
}

// Addr is host:port.
func (s *RedisServer) Addr() string { return "127.0.0.1:" + s.Port }

// URL is its redis:// URL, database 0.
func (s *RedisServer) URL() string { return "redis://" + s.Addr() + "/0" }

// Client is an administrative client (the default user), closed when the
// test ends.
func (s *RedisServer) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// Start runs redis-server (again, empty) and waits until it answers.
func (s *RedisServer) Start(t testing.TB) {
	t.Helper()
	args := append([]string{"--port", s.Port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log")}, s.args...)
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	waitPing(t, s.Addr())
}

func waitPing(t testing.TB, addr string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil || strings.Contains(err.Error(), "NOAUTH") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis on %s did not answer: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills the process (SIGKILL: no shutdown save) and waits until
// nothing listens on its port.
func (s *RedisServer) Kill(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill redis-server: %v", err)
	}
	_ = s.cmd.Wait()
	s.cmd = nil
	for range 100 {
		conn, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("redis-server on %s still answers after kill", s.Port)
}

// Running reports whether the process is up (not killed by the test).
func (s *RedisServer) Running() bool { return s.cmd != nil }

// RedisCluster is a Redis Cluster of the test's own: three masters, each
// with a replica, that fail over within about two seconds.
type RedisCluster struct {
	Nodes []*RedisServer
}

// StartCluster starts six cluster-enabled redis-servers and joins them
// with `redis-cli --cluster create --cluster-replicas 1`.
func StartCluster(t testing.TB) *RedisCluster {
	t.Helper()
	needBinary(t, "redis-cli")
	c := &RedisCluster{}
	addrs := make([]string, 6)
	for i := range addrs {
		n := StartRedis(t, "--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
			"--cluster-config-file", "nodes.conf", "--cluster-replica-validity-factor", "0")
		c.Nodes = append(c.Nodes, n)
		addrs[i] = n.Addr()
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Wait until every node agrees the cluster is up, and every replica
	// is in sync with its master (else it could not take over).
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Nodes {
		for {
			info, _ := n.Client(t).ClusterInfo(context.Background()).Result()
			repl, _ := n.Client(t).Info(context.Background(), "replication").Result()
			if strings.Contains(info, "cluster_state:ok") &&
				(strings.Contains(repl, "role:master") || strings.Contains(repl, "master_link_status:up")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok: %s", n.Addr(), info)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return c
}

// Addrs are the nodes' host:port, for REDIS_CLUSTER_ADDRS.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// Master returns the running node that is master of the slot of key.
func (c *RedisCluster) Master(t testing.TB, key string) *RedisServer {
	t.Helper()
	slot, err := c.Nodes[0].Client(t).ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		info, err := n.Client(t).Info(context.Background(), "replication").Result()
		if err != nil || !strings.Contains(info, "role:master") {
			continue
		}
		slots, err := n.Client(t).ClusterSlots(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) && s.Nodes[0].Addr == n.Addr() {
				return n
			}
		}
	}
	t.Fatalf("no master found for key %s", key)
	return nil
}

// RedisSentinel is a master, its replica and three sentinels watching
// them as "gqlauth"; they fail over about a second after the master dies.
type RedisSentinel struct {
	Master, Replica *RedisServer
	Sentinels       []*RedisServer
}

// SentinelMaster is the master's name the sentinels know.
const SentinelMaster = "gqlauth"

// StartSentinel starts the master, the replica and the sentinels.
func StartSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	needBinary(t, "redis-sentinel")
	s := &RedisSentinel{Master: StartRedis(t)}
	s.Replica = StartRedis(t, "--replicaof", "127.0.0.1", s.Master.Port)
	for range 3 {
		port := freePort(t)
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
			"sentinel monitor %s 127.0.0.1 %s 2\n"+
			"sentinel down-after-milliseconds %[4]s 1000\nsentinel failover-timeout %[4]s 5000\nsentinel parallel-syncs %[4]s 1\n",
			port, dir, filepath.Join(dir, "sentinel.log"), SentinelMaster, s.Master.Port)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("redis-sentinel", conf)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-sentinel: %v", err)
		}
		sen := &RedisServer{Port: port, dir: dir, cmd: cmd}
		t.Cleanup(func() {
			if sen.cmd != nil {
				sen.Kill(t)
			}
		})
		waitPing(t, sen.Addr())
		s.Sentinels = append(s.Sentinels, sen)
	}
	// Wait until the replica is in sync and the sentinels see it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, _ := s.Replica.Client(t).Info(context.Background(), "replication").Result()
		n, _ := s.Sentinels[0].Client(t).Do(context.Background(), "SENTINEL", "REPLICAS", SentinelMaster).Slice()
		if strings.Contains(info, "master_link_status:up") && len(n) > 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel setup not ready: %s", info)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Addrs are the sentinels' host:port, for REDIS_SENTINEL_ADDRS.
func (s *RedisSentinel) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		out[i] = n.Addr()
	}
	return out
}

// SetACLUser creates, on every given node, the user name with password
// limited to the keys and channels under prefix (ACLs are not replicated).
func SetACLUser(t testing.TB, name, password, prefix string, nodes ...*RedisServer) {
	t.Helper()
	for _, n := range nodes {
		err := n.Client(t).Do(context.Background(), "ACL", "SETUSER", name, "reset", "on", ">"+password,
			"~"+prefix+"*", "&"+prefix+"*", "+@all").Err()
		if err != nil {
			t.Fatalf("ACL SETUSER on %s: %v", n.Addr(), err)
		}
	}
}

// CutReplication disconnects the replica s from master and keeps it from
// reconnecting (it authenticates as a user that does not exist): writes
// made after it stay on the master alone, as with a lagging replica.
func (s *RedisServer) CutReplication(t testing.TB, master *RedisServer) {
	t.Helper()
	ctx := context.Background()
	for _, kv := range [][2]string{{"masteruser", "gqlauth-test-nobody"}, {"masterauth", "nothing"}} {
		if err := s.Client(t).ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := master.Client(t).Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, _ := s.Client(t).Info(ctx, "replication").Result()
		if strings.Contains(info, "master_link_status:down") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s still linked: %s", s.Addr(), info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ReplicaOf returns the cluster node replicating master.
func (c *RedisCluster) ReplicaOf(t testing.TB, master *RedisServer) *RedisServer {
	t.Helper()
	ctx := context.Background()
	id, err := master.Client(t).Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatal(err)
	}
	lines, err := master.Client(t).Do(ctx, "CLUSTER", "REPLICAS", id).StringSlice()
	if err != nil || len(lines) == 0 {
		t.Fatalf("CLUSTER REPLICAS %s: %v %v", id, lines, err)
	}
	addr, _, _ := strings.Cut(strings.Fields(lines[0])[1], "@")
	for _, n := range c.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	t.Fatalf("replica %s is not a node of the test", addr)
	return nil
}

// Client is a cluster client of the test, closed when the test ends.
func (c *RedisCluster) Client(t testing.TB) *redis.ClusterClient {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Client is a failover client following the sentinels, closed when the
// test ends.
func (s *RedisSentinel) Client(t testing.TB) *redis.Client {
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: SentinelMaster, SentinelAddrs: s.Addrs()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// RedisTarget is one Redis deployment a test of a Redis store runs on.
type RedisTarget struct {
	Name string
	// Client returns a client and a key prefix of the caller's own.
	Client func(t testing.TB) (redis.UniversalClient, string)
}

// RedisTargets starts, for the calling test, a cluster and a Sentinel
// setup of its own, beside the shared Redis: run a store's tests on each
// (a few seconds to start them; share them among subtests).
func RedisTargets(t testing.TB) []RedisTarget {
	t.Helper()
	cluster := StartCluster(t).Client(t)
	sentinel := StartSentinel(t).Client(t)
	own := func(rdb redis.UniversalClient) func(testing.TB) (redis.UniversalClient, string) {
		return func(testing.TB) (redis.UniversalClient, string) {
			return rdb, "gqlauth-test:" + strings.ToLower(rand.Text()[:10]) + ":"
		}
	}
	return []RedisTarget{
		{"redis", func(t testing.TB) (redis.UniversalClient, string) {
			opts, err := redis.ParseURL(RedisURL())
			if err != nil {
				t.Fatal(err)
			}
			prefix := NewRedisPrefix(t)
			rdb := redis.NewClient(opts)
			t.Cleanup(func() { rdb.Close() })
			return rdb, prefix
		}},
		{"redis-cluster", own(cluster)},
		{"redis-sentinel", own(sentinel)},
	}
}
