package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// benchDB is a PostgreSQL database of the bench's own, dropped at the end.
type benchDB struct {
	adminURL string
	name     string
	// URL points at the new database.
	URL string
}

// createDB creates a fresh database next to the one adminURL names.
func createDB(ctx context.Context, adminURL string) (*benchDB, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL (%s): %w", adminURL, err)
	}
	defer conn.Close(ctx)
	name := "gqlauth_bench_" + strings.ToLower(rand.Text()[:10])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	return &benchDB{adminURL: adminURL, name: name, URL: u.String()}, nil
}

// Drop removes the database, closing any connection still open to it.
func (d *benchDB) Drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)")
	return err
}

// newPool opens a pgx pool of at most maxConns connections.
func newPool(ctx context.Context, dbURL string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = maxConns
	return pgxpool.NewWithConfig(ctx, cfg)
}

// newRedisPrefix returns a key prefix of the bench's own and a function
// that deletes its keys.
func newRedisPrefix(ctx context.Context, rdb *redis.Client) (string, func(), error) {
	if err := rdb.Ping(ctx).Err(); err != nil {
		return "", nil, fmt.Errorf("connect to Redis: %w", err)
	}
	prefix := "gqlauth-bench:" + rand.Text()[:10] + ":"
	cleanup := func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
			if len(keys) == 1000 {
				rdb.Unlink(ctx, keys...)
				keys = keys[:0]
			}
		}
		if len(keys) > 0 {
			rdb.Unlink(ctx, keys...)
		}
	}
	return prefix, cleanup, nil
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// child is gqlauth (or the floor server) running as a child process, so
// that its memory is its own and can be read from /proc, and so that both
// run under the same conditions: a process of their own beside the load
// generator's.
type child struct {
	cmd *exec.Cmd
	// Addr is where it serves the API; PprofAddr its profiles ("" if off).
	Addr      string
	PprofAddr string
	log       *syncBuffer
	done      chan error
}

// startChild runs `binary serve` with env (plus PORT) and waits until it
// answers.
func startChild(ctx context.Context, binary string, env map[string]string, pprof bool) (*child, error) {
	return startProcess(ctx, binary, []string{"serve"}, env, pprof, "/readyz")
}

// startProcess runs binary with args and env (plus PORT, the address it
// must serve on) and waits until GET readyPath answers 200.
func startProcess(ctx context.Context, binary string, args []string, env map[string]string, pprof bool, readyPath string) (*child, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	c := &child{Addr: addr, log: &syncBuffer{}, done: make(chan error, 1)}
	vars := []string{"PATH=" + os.Getenv("PATH"), "PORT=" + port}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	if pprof {
		if c.PprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		vars = append(vars, "PPROF_ADDR="+c.PprofAddr)
	}
	if binary, err = filepath.Abs(binary); err != nil {
		return nil, err
	}
	c.cmd = exec.Command(binary, args...)
	c.cmd.Env = vars
	c.cmd.Dir = os.TempDir() // no .env file is picked up
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + addr + readyPath)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		select {
		case err := <-c.done:
			return nil, fmt.Errorf("%s exited (%v):\n%s", filepath.Base(binary), err, c.log.String())
		case <-ctx.Done():
			c.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("%s did not answer within 30s:\n%s", filepath.Base(binary), c.log.String())
		}
	}
}

// Pid is the child's process id.
func (c *child) Pid() int { return c.cmd.Process.Pid }

// ResetPeakRSS resets the kernel's high-water mark of the child's
// resident memory (VmHWM), so the next reading is the peak of one scenario.
func (c *child) ResetPeakRSS() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", c.Pid()), []byte("5"), 0)
}

// PeakRSS is the child's VmHWM in bytes.
func (c *child) PeakRSS() int64 { return procStatus(c.Pid(), "VmHWM:") }

// RSS is the child's current VmRSS in bytes.
func (c *child) RSS() int64 { return procStatus(c.Pid(), "VmRSS:") }

func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// Stop ends the child with SIGTERM (graceful shutdown), then SIGKILL.
func (c *child) Stop() {
	if c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// Log is everything the child printed.
func (c *child) Log() string { return c.log.String() }

// syncBuffer is a bytes.Buffer safe for the child's two output streams.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil // keep the first MiB; enough to explain a failure
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// CPUTime is the CPU time the child has used so far (user + system).
func (c *child) CPUTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Pid()))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; count fields after it.
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTicks = 100

// RSSParts is the child's current resident memory split into anonymous
// memory (heap, stacks) and file-backed pages (mostly its own binary).
func (c *child) RSSParts() (anon, file int64) {
	return procStatus(c.Pid(), "RssAnon:"), procStatus(c.Pid(), "RssFile:")
}
