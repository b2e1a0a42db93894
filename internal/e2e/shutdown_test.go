package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// opsFreePort returns a TCP port nothing listens on right now.
func opsFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// opsBuildBinary builds cmd/gqlauth as a static binary, as the Dockerfile does.
func opsBuildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gqlauth")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/gqlauth/gqlauth/cmd/gqlauth")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// loadResult is what the client saw of one request of the load.
type loadResult struct {
	id string
	// ok: 200 with a complete GraphQL payload carrying an access token.
	ok bool
	// gotBytes: some of the response arrived (a failure after it is a
	// request lost mid-response).
	gotBytes bool
	status   int
	err      error
	// done is when the response (or the error) came.
	done time.Time
}

// refusedBeforeAccept reports whether err means the server never took the
// request: the connection was refused, or reset while it still waited in
// the listener's queue (the server closed the listener without accepting it).
func refusedBeforeAccept(r loadResult) bool {
	return !r.gotBytes && (errors.Is(r.err, syscall.ECONNREFUSED) || errors.Is(r.err, syscall.ECONNRESET) || errors.Is(r.err, io.EOF))
}

// TestGracefulShutdownUnderLoad runs the real binary (JSON logs, metrics on
// their own port, migrations applied by `gqlauth migrate` beforehand),
// drives 200 sign-ins at it, 10 at a time, and sends SIGTERM after the
// first 50 have completed. Every request must either complete with a
// full answer or be refused before the server accepted it; the requests
// in flight at the signal must complete; the server must log one access
// line for each request it answered, exit 0, and say it stopped.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	bin := opsBuildBinary(t)
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		port, metricsPort := opsFreePort(t), opsFreePort(t)
		env := []string{
			"APP_ENV=production",
			"EMAIL_VERIFICATION=off", // no SMTP server here
			"PORT=" + strconv.Itoa(port),
			"METRICS_ADDR=127.0.0.1:" + strconv.Itoa(metricsPort),
			"JWT_ACCESS_SECRET=shutdown-test-secret-shutdown-test!!",
			"DATA_ENCRYPTION_KEY=" + apptest.DataKey,
			"BCRYPT_COST=10",
			"AUTO_MIGRATE=false",
			"SHUTDOWN_TIMEOUT=20s",
			"LOG_LEVEL=info",
			// Every request comes from one loopback address and signs in
			// as one account, ten at a time: turn off the per-IP limit,
			// and the lockout, which counts attempts in flight.
			"RATE_LIMIT_AUTH=0",
			"LOGIN_MAX_FAILURES=0",
			"PATH=" + os.Getenv("PATH"),
		}
		if b.Postgres {
			env = append(env, "DATABASE_URL="+apptest.NewPostgresDB(t))
		} else {
			env = append(env, "DATABASE_URL="+apptest.NewSQLiteDB(t))
		}
		if b.Redis {
			env = append(env, "REDIS_URL="+apptest.RedisURL(), "REDIS_KEY_PREFIX="+apptest.NewRedisPrefix(t))
		}
		dir := t.TempDir() // no .env file here

		migrate := exec.Command(bin, "migrate")
		migrate.Env, migrate.Dir = env, dir
		out, err := migrate.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "applied ") || !strings.Contains(string(out), "up to date") {
			t.Fatalf("gqlauth migrate: %v\n%s", err, out)
		}

		var stderr bytes.Buffer
		var stderrMu sync.Mutex
		serve := exec.Command(bin, "serve")
		serve.Env, serve.Dir = env, dir
		serve.Stderr = opsWriterFunc(func(p []byte) (int, error) {
			stderrMu.Lock()
			defer stderrMu.Unlock()
			return stderr.Write(p)
		})
		if err := serve.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- serve.Wait() }()
		t.Cleanup(func() {
			if serve.ProcessState == nil {
				serve.Process.Kill()
				<-exited
			}
		})
		logs := func() string {
			stderrMu.Lock()
			defer stderrMu.Unlock()
			return stderr.String()
		}

		base := "http://127.0.0.1:" + strconv.Itoa(port)
		opsWaitReady(t, base+"/readyz", exited, logs)
		hc := exec.Command(bin, "healthcheck")
		hc.Env, hc.Dir = env, dir
		if out, err := hc.CombinedOutput(); err != nil {
			t.Fatalf("gqlauth healthcheck on a running server: %v\n%s", err, out)
		}
		if status, _, _ := opsGet(t, base+"/metrics", nil); status != http.StatusNotFound {
			t.Fatalf("/metrics on the main port = %d with METRICS_ADDR set", status)
		}
		if status, _, body := opsGet(t, "http://127.0.0.1:"+strconv.Itoa(metricsPort)+"/metrics", nil); status != http.StatusOK || !bytes.Contains(body, []byte("gqlauth_sign_ins_total")) {
			t.Fatalf("metrics port: %d", status)
		}

		email := apptest.UniqueEmail("shutdown")
		signUp := fmt.Sprintf(`{"query":%q,"variables":{"in":{"email":%q,"password":"correct horse"}}}`, opsSignUpDoc, email)
		if r := opsPost(base, "signup", signUp); !r.ok {
			t.Fatalf("sign up: status %d, err %v\n%s", r.status, r.err, logs())
		}

		const total, concurrency, signalAfter = 200, 10, 50
		signIn := fmt.Sprintf(`{"query":%q,"variables":{"in":{"email":%q,"password":"correct horse"}}}`, opsSignInDoc, email)
		results := make([]loadResult, total)
		var (
			completed atomic.Int32
			signalled = make(chan time.Time, 1)
			once      sync.Once
			wg        sync.WaitGroup
			slots     = make(chan struct{}, concurrency)
		)
		for i := range total {
			wg.Add(1)
			slots <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				results[i] = opsPost(base, fmt.Sprintf("load-%03d", i), signIn)
				if results[i].ok && completed.Add(1) == signalAfter {
					once.Do(func() {
						signalled <- time.Now()
						if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
							t.Errorf("SIGTERM: %v", err)
						}
					})
				}
			}()
		}
		wg.Wait()
		var signalAt time.Time
		select {
		case signalAt = <-signalled:
		default:
			t.Fatalf("only %d requests completed; SIGTERM was never sent\n%s", completed.Load(), logs())
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("gqlauth exited with %v after SIGTERM\n%s", err, logs())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("gqlauth did not exit 30s after SIGTERM\n%s", logs())
		}

		hc = exec.Command(bin, "healthcheck")
		hc.Env, hc.Dir = env, dir
		if out, err := hc.CombinedOutput(); err == nil {
			t.Fatalf("gqlauth healthcheck passed with the server stopped: %s", out)
		}

		answered := opsAccessLogIDs(t, logs())
		var ok, refused, okAfterSignal, resets int
		for _, r := range results {
			switch {
			case r.ok:
				ok++
				if r.done.After(signalAt) {
					okAfterSignal++
				}
				if !answered[r.id] {
					t.Errorf("%s: answered but not in the access log", r.id)
				}
			case refusedBeforeAccept(r):
				refused++
				if !errors.Is(r.err, syscall.ECONNREFUSED) {
					resets++
				}
				if answered[r.id] {
					t.Errorf("%s: the server answered it (access log) but the client got %v", r.id, r.err)
				}
			default:
				t.Errorf("%s lost: status %d, response started %v, err %v", r.id, r.status, r.gotBytes, r.err)
			}
		}
		t.Logf("%d requests: %d completed (%d of them after SIGTERM), %d refused before being accepted (%d of them reset in the listen queue)",
			total, ok, okAfterSignal, refused, resets)
		if ok < signalAfter || ok+refused != total {
			t.Fatalf("completed %d, refused %d of %d", ok, refused, total)
		}
		if okAfterSignal == 0 {
			t.Fatal("no request in flight at SIGTERM completed after it: the test did not exercise draining")
		}
		for _, want := range []string{`"msg":"shutting down"`, `"msg":"stopped"`} {
			if !strings.Contains(logs(), want) {
				t.Errorf("logs lack %s", want)
			}
		}
	})
}

type opsWriterFunc func([]byte) (int, error)

func (f opsWriterFunc) Write(p []byte) (int, error) { return f(p) }

// opsWaitReady polls /readyz until it answers 200, failing if the process exits.
func opsWaitReady(t *testing.T, url string, exited <-chan error, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("gqlauth exited at start: %v\n%s", err, logs())
		default:
		}
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gqlauth not ready after 20s\n%s", logs())
}

// opsNoKeepAlive opens a new connection per request, so that each request
// is either accepted on its own connection or refused.
var opsNoKeepAlive = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true},
	Timeout:   60 * time.Second,
}

// post sends one GraphQL request with the request id and reports what
// came back.
func opsPost(base, id, body string) loadResult {
	r := loadResult{id: id}
	defer func() { r.done = time.Now() }()
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotFirstResponseByte: func() { r.gotBytes = true },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", strings.NewReader(body))
	if err != nil {
		r.err = err
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", id)
	res, err := opsNoKeepAlive.Do(req)
	if err != nil {
		r.err = err
		r.done = time.Now()
		return r
	}
	defer res.Body.Close()
	r.status = res.StatusCode
	var out struct {
		Data   map[string]struct{ AccessToken string } `json:"data"`
		Errors []any                                   `json:"errors"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		r.err = err
		return r
	}
	for _, p := range out.Data {
		r.ok = res.StatusCode == http.StatusOK && len(out.Errors) == 0 && p.AccessToken != ""
	}
	r.done = time.Now()
	return r
}

// accessLogIDs parses the JSON log lines and returns the request ids of
// the access lines; every line must be JSON (APP_ENV=production).
func opsAccessLogIDs(t *testing.T, logs string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("log line is not JSON: %s", sc.Text())
			continue
		}
		if line["msg"] == "request" {
			id, _ := line["request_id"].(string)
			ids[id] = true
		}
	}
	return ids
}
