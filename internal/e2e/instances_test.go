package e2e

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// instance is one gqlauth process of TestSeveralInstances.
type instance struct {
	name, base string
	cmd        *exec.Cmd
	logs       *apptest.SyncBuffer
	exited     chan error
}

// startInstance runs `gqlauth serve` with env on a free port until the
// test ends.
func startInstance(t *testing.T, bin string, env []string, name string) *instance {
	t.Helper()
	port := opsFreePort(t)
	in := &instance{name: name, base: "http://127.0.0.1:" + strconv.Itoa(port), logs: &apptest.SyncBuffer{}, exited: make(chan error, 1)}
	in.cmd = exec.Command(bin, "serve")
	in.cmd.Env = append(append([]string{}, env...), "PORT="+strconv.Itoa(port))
	in.cmd.Dir = t.TempDir()
	in.cmd.Stdout, in.cmd.Stderr = in.logs, in.logs
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { in.exited <- in.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-in.exited:
		default:
			_ = in.cmd.Process.Kill()
			<-in.exited
		}
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, in.logs.String())
		}
	})
	return in
}

// servedOperations counts the GraphQL operations the instance's access
// log shows, by operation name.
func (in *instance) servedOperations() map[string]int {
	ops := map[string]int{}
	for line := range strings.Lines(in.logs.String()) {
		if !strings.Contains(line, "msg=request") || !strings.Contains(line, "path=/graphql") {
			continue
		}
		_, op, _ := strings.Cut(line, " operation=")
		op, _, _ = strings.Cut(op, " ")
		ops[op]++
	}
	return ops
}

// mustGQL is gqlAt in the test's goroutine: a transport failure fails the test.
func mustGQL(t *testing.T, base string, hdr http.Header, doc string, vars map[string]any) *apptest.Response {
	t.Helper()
	res, err := gqlAt(base+"/graphql", hdr, doc, vars)
	if err != nil {
		t.Fatalf("POST %s/graphql: %v", base, err)
	}
	return res
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// cookieOf returns the value of the cookie name set by res, or "".
func cookieOf(res *apptest.Response, name string) string {
	for _, c := range (&http.Response{Header: res.Header}).Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

const (
	instancesRefreshDoc = `mutation($t: String) { refresh(refreshToken: $t) { accessToken refreshToken } }`
	instancesMeDoc      = `{ me { id email } }`
)

// TestSeveralInstances runs two gqlauth processes (the real binary) on
// one PostgreSQL database and one Redis key prefix, behind a real nginx
// configured with examples/nginx/instances.conf (round robin), and checks
// that nothing depends on which instance answers:
//
//   - the example SPA, in Chromium through nginx, signs up, reads me,
//     restores its session on reload through the refresh cookie and CSRF
//     header; its session ended on the instance that does not hold its
//     event stream, it signs out at once; it signs in and logs out; its
//     requests spread over both instances;
//   - a logout on one instance is refused on the other at once (asked
//     directly and through nginx);
//   - 50 concurrent cookie refreshes of one session, half on each
//     instance, rotate it once: the reuse grace gives every request the
//     same successor, and the session keeps exactly one live token;
//   - `gqlauth keys create` and `keys rotate` reach both instances within
//     JWT_KEYS_REFRESH_INTERVAL and a reload: both publish the new key,
//     sign with it, and accept each other's tokens;
//   - `kill -9` of one instance under refresh load (each client presents
//     its latest token, and retries it after a 502) loses no committed
//     rotation: every client holds the one live token of its session, and
//     nginx keeps serving from the other instance.
func TestSeveralInstances(t *testing.T) {
	bin := opsBuildBinary(t)
	dbURL := apptest.NewPostgresDB(t)
	const keysInterval = time.Second
	env := []string{
		"APP_ENV=test",
		"DATABASE_URL=" + dbURL,
		"REDIS_URL=" + apptest.RedisURL(),
		"REDIS_KEY_PREFIX=" + apptest.NewRedisPrefix(t),
		"DATA_ENCRYPTION_KEY=" + apptest.DataKey,
		"BCRYPT_COST=4",
		"RATE_LIMIT_AUTH=0",
		"EXAMPLES_ENABLED=true",
		"TRUSTED_PROXIES=127.0.0.1",
		"JWT_KEYS_REFRESH_INTERVAL=" + keysInterval.String(),
		// keys rotate makes a standby key current once it has been
		// published this long.
		"JWKS_MAX_AGE=1s",
		"LOG_LEVEL=info",
		"PATH=" + os.Getenv("PATH"),
	}
	// Both start on the empty database at once: the migrations and the
	// first signing key are made once.
	a, b := startInstance(t, bin, env, "a"), startInstance(t, bin, env, "b")
	for _, in := range []*instance{a, b} {
		opsWaitReady(t, in.base+"/readyz", in.exited, in.logs.String)
	}
	port := opsFreePort(t)
	lb := runNginx(t, port, "instances.conf", map[string]string{
		"instances.conf": nginxExample(t, "instances.conf", map[string]string{
			"server gqlauth:8080 ":   "server " + strings.TrimPrefix(a.base, "http://") + " ",
			"server gqlauth-2:8080 ": "server " + strings.TrimPrefix(b.base, "http://") + " ",
			"listen 8000;":           "listen 127.0.0.1:" + strconv.Itoa(port) + ";",
		}),
	})
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var keyCount int
	if err := db.QueryRow(`SELECT count(*) FROM signing_keys`).Scan(&keyCount); err != nil || keyCount != 1 {
		t.Fatalf("two instances started on an empty database made %d signing keys (%v), want 1", keyCount, err)
	}
	// liveTokens returns the hashes of the session's live refresh tokens
	// and whether the session itself was revoked.
	liveTokens := func(t *testing.T, sid string) (hashes [][]byte, revoked bool) {
		t.Helper()
		rows, err := db.Query(`SELECT token_hash FROM refresh_tokens WHERE session_id = $1 AND revoked_at IS NULL`, sid)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var h []byte
			if err := rows.Scan(&h); err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, h)
		}
		if err := db.QueryRow(`SELECT revoked_at IS NOT NULL FROM sessions WHERE id = $1`, sid).Scan(&revoked); err != nil {
			t.Fatal(err)
		}
		return hashes, revoked
	}
	signUp := func(t *testing.T, base, name string) apptest.Payload {
		t.Helper()
		res := mustGQL(t, base, nil, `mutation($in: SignUpInput!) { signUp(input: $in) { `+apptest.PayloadFields+` } }`,
			map[string]any{"in": map[string]any{"email": apptest.UniqueEmail(name), "password": "correct horse battery"}})
		var out struct{ SignUp apptest.Payload }
		res.Decode(t, &out)
		return out.SignUp
	}

	t.Run("spa", func(t *testing.T) {
		before := map[*instance]map[string]int{a: a.servedOperations(), b: b.servedOperations()}
		ctx := newBrowser(t)
		email := apptest.UniqueEmail("spa-instances")
		waitState := func(state string) {
			t.Helper()
			step(t, ctx, "wait for the app to be "+state,
				chromedp.Poll[chromedp.Void](`document.body.dataset.state === "`+state+`"`))
		}
		step(t, ctx, "open the app through nginx", chromedp.Navigate(lb+"/examples/spa/"))
		waitState("signed-out")
		step(t, ctx, "sign up", chromedp.Steps(
			chromedp.SendKeys(chromedp.ID("signup-email"), email),
			chromedp.SendKeys(chromedp.ID("signup-password"), "correct horse battery"),
			chromedp.Click(chromedp.CSS("#signup-form button[type=submit]")),
		))
		waitState("signed-in")
		// Each reload restores the session through refresh (cookie and
		// CSRF header), on whichever instance nginx picks, then reads me.
		for i := range 3 {
			step(t, ctx, fmt.Sprintf("reload %d", i+1), chromedp.Reload())
			waitState("signed-in")
			step(t, ctx, "reload me", chromedp.Steps(
				chromedp.Evaluate[chromedp.Void](`document.getElementById("me").textContent = ""`),
				chromedp.Click(chromedp.ID("me-button")),
				chromedp.Poll[chromedp.Void](`document.getElementById("me").textContent.includes("`+email+`")`),
			))
		}
		sid := ""
		if err := db.QueryRow(`SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1`, email).Scan(&sid); err != nil {
			t.Fatalf("the SPA's session: %v", err)
		}
		if live, revoked := liveTokens(t, sid); len(live) != 1 || revoked {
			t.Fatalf("signed in after 3 reloads: %d live refresh tokens, session revoked %v; want 1, false", len(live), revoked)
		}

		// The page streams its session's events from one instance; the
		// same user, signed in on the other instance, ends the page's
		// session there, and the page hears of it.
		var streaming, other *instance
		waitFor(t, time.Now().Add(10*time.Second), "one instance holds the page's event stream", func() bool {
			na, nb := liveStreams(t, a), liveStreams(t, b)
			switch {
			case na == 1 && nb == 0:
				streaming, other = a, b
			case na == 0 && nb == 1:
				streaming, other = b, a
			}
			return streaming != nil
		})
		device := mustGQL(t, other.base, nil, `mutation($in: SignInInput!) { signIn(input: $in) { accessToken } }`,
			map[string]any{"in": map[string]any{"email": email, "password": "correct horse battery"}})
		var in struct{ SignIn struct{ AccessToken string } }
		device.Decode(t, &in)
		if res := mustGQL(t, other.base, bearer(in.SignIn.AccessToken), `mutation { logout(scope: OTHERS) }`, nil); res.Code() != "" {
			t.Fatalf("logout(scope: OTHERS) on %s: %s", other.name, res.Body)
		}
		waitState("signed-out")
		if status := step(t, ctx, "read the status", chromedp.Evaluate[string](`document.getElementById("status").textContent`)); !strings.Contains(status, "another device") {
			t.Fatalf("the page (streaming from %s) says %q after its session ended on %s", streaming.name, status, other.name)
		}
		t.Logf("the page streamed from %s; its session was ended on %s", streaming.name, other.name)
		if live, revoked := liveTokens(t, sid); len(live) != 0 || !revoked {
			t.Fatalf("after logout elsewhere: %d live refresh tokens, session revoked %v", len(live), revoked)
		}

		// Sign in again in the page, and log out there.
		step(t, ctx, "sign in", chromedp.Steps(
			chromedp.SendKeys(chromedp.ID("signin-email"), email),
			chromedp.SendKeys(chromedp.ID("signin-password"), "correct horse battery"),
			chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")),
		))
		waitState("signed-in")
		step(t, ctx, "log out", chromedp.Click(chromedp.ID("logout-button")))
		waitState("signed-out")
		var live int
		if err := db.QueryRow(`SELECT count(*) FROM refresh_tokens r JOIN users u ON u.id = r.user_id WHERE u.email = $1 AND r.revoked_at IS NULL`, email).Scan(&live); err != nil {
			t.Fatal(err)
		}
		if live != 1 { // the other device's session
			t.Fatalf("after the page logged out, the user has %d live refresh tokens, want 1 (the other device's)", live)
		}
		step(t, ctx, "reload after logout", chromedp.Reload())
		waitState("signed-out")

		// Both instances answered the app.
		total := map[string]int{}
		for _, in := range []*instance{a, b} {
			n := 0
			for op, c := range in.servedOperations() {
				d := c - before[in][op]
				total[op] += d
				n += d
			}
			if n == 0 {
				t.Errorf("instance %s answered none of the app's GraphQL requests", in.name)
			}
		}
		for _, op := range []string{"SignUp", "SignIn", "Refresh", "Me", "Logout", "SessionEvents"} {
			if total[op] == 0 {
				t.Errorf("no %s operation reached an instance (saw %v)", op, total)
			}
		}
		t.Logf("the app's operations: %v", total)
	})

	t.Run("logout on one instance is refused on the other at once", func(t *testing.T) {
		for _, pair := range [][2]*instance{{a, b}, {b, a}} {
			on, other := pair[0], pair[1]
			p := signUp(t, on.base, "logout-"+on.name)
			for _, base := range []string{a.base, b.base, lb, lb} {
				if res := mustGQL(t, base, bearer(p.AccessToken), instancesMeDoc, nil); res.Code() != "" {
					t.Fatalf("me at %s before logout: %s", base, res.Body)
				}
			}
			if res := mustGQL(t, on.base, bearer(p.AccessToken), `mutation { logout }`, nil); res.Code() != "" {
				t.Fatalf("logout on %s: %s", on.name, res.Body)
			}
			// At once: no wait between the logout's answer and these.
			if res := mustGQL(t, other.base, bearer(p.AccessToken), instancesMeDoc, nil); res.Code() != "UNAUTHENTICATED" {
				t.Fatalf("me on %s right after logout on %s: %s", other.name, on.name, res.Body)
			}
			if status := verifyStatus(t, other.base, p.AccessToken); status != http.StatusUnauthorized {
				t.Fatalf("/auth/verify on %s after logout on %s: %d", other.name, on.name, status)
			}
			// Through nginx: two requests in a row go to both instances.
			for i := range 2 {
				if res := mustGQL(t, lb, bearer(p.AccessToken), instancesMeDoc, nil); res.Code() != "UNAUTHENTICATED" {
					t.Fatalf("me through nginx (%d) after logout on %s: %s", i, on.name, res.Body)
				}
			}
			if res := mustGQL(t, other.base, nil, instancesRefreshDoc, map[string]any{"t": *p.RefreshToken}); res.Code() != "UNAUTHENTICATED" {
				t.Fatalf("refresh on %s with the logged-out session's token: %s", other.name, res.Body)
			}
		}
	})

	t.Run("concurrent refreshes of one session do not fork it", func(t *testing.T) {
		// As the SPA in two tabs: the refresh cookie and the CSRF header.
		res := mustGQL(t, lb, nil, `mutation($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
			map[string]any{"in": map[string]any{"email": apptest.UniqueEmail("concurrent"), "password": "correct horse battery"}})
		var up struct{ SignUp struct{ AccessToken string } }
		res.Decode(t, &up)
		refresh, csrf := cookieOf(res, "gqlauth_refresh"), cookieOf(res, "gqlauth_csrf")
		if refresh == "" || csrf == "" {
			t.Fatalf("sign-up set no refresh or CSRF cookie: %v", res.Header.Values("Set-Cookie"))
		}
		sid := sessionOf(t, up.SignUp.AccessToken)
		hdr := http.Header{
			"Cookie":       {"gqlauth_refresh=" + refresh + "; gqlauth_csrf=" + csrf},
			"X-Csrf-Token": {csrf},
		}
		const n = 50
		type outcome struct {
			next, code string
			err        error
		}
		outcomes := make([]outcome, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				at := []*instance{a, b}[i%2]
				res, err := gqlAt(at.base+"/graphql", hdr, `mutation { refresh { accessToken } }`, nil)
				if err != nil {
					outcomes[i].err = err
					return
				}
				outcomes[i] = outcome{next: cookieOf(res, "gqlauth_refresh"), code: res.Code()}
			}()
		}
		close(start)
		wg.Wait()
		successors := map[string]int{}
		for i, o := range outcomes {
			if o.err != nil || o.code != "" || o.next == "" {
				t.Errorf("refresh %d (instance %s): code %q, err %v, new cookie %t", i, []*instance{a, b}[i%2].name, o.code, o.err, o.next != "")
				continue
			}
			successors[o.next]++
		}
		if len(successors) != 1 {
			t.Fatalf("%d concurrent refreshes of one token handed out %d different successors, want 1", n, len(successors))
		}
		var next string
		for next = range successors {
		}
		live, revoked := liveTokens(t, sid)
		if revoked || len(live) != 1 || !bytes.Equal(live[0], sha256Of(next)) {
			t.Fatalf("after the burst: session revoked %v, %d live tokens (the one handed out: %v)", revoked, len(live), len(live) == 1 && bytes.Equal(live[0], sha256Of(next)))
		}
		var rotated int
		if err := db.QueryRow(`SELECT count(*) FROM refresh_tokens WHERE session_id = $1 AND revoked_reason = 'rotated'`, sid).Scan(&rotated); err != nil {
			t.Fatal(err)
		}
		if rotated != 1 {
			t.Fatalf("%d rotations recorded, want exactly 1", rotated)
		}
		// The successor goes on, on either instance.
		res = mustGQL(t, lb, nil, instancesRefreshDoc, map[string]any{"t": next})
		if res.Code() != "" {
			t.Fatalf("refresh with the successor: %s", res.Body)
		}
	})

	t.Run("a signing-key rotation reaches both instances", func(t *testing.T) {
		keys := func(args ...string) (string, error) {
			cmd := exec.Command(bin, append([]string{"keys"}, args...)...)
			cmd.Env, cmd.Dir = env, t.TempDir()
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if err != nil {
				err = fmt.Errorf("gqlauth keys %s: %w: %s", strings.Join(args, " "), err, stderr.String())
			}
			return stdout.String(), err
		}
		old := signUp(t, a.base, "keys-old")
		oldKID := header(t, old.AccessToken)["kid"]

		out, err := keys("create", "--alg", "EdDSA")
		if err != nil {
			t.Fatal(err)
		}
		kid, _, _ := strings.Cut(out, "\n")
		created := time.Now()
		// Each instance publishes it within the interval and one reload.
		bound := keysInterval + 3*time.Second
		for _, in := range []*instance{a, b} {
			waitFor(t, created.Add(bound), in.name+" publishes key "+kid, func() bool {
				return jwksHas(t, in.base, kid)
			})
		}
		t.Logf("new standby key in both JWKS after %s", time.Since(created).Round(time.Millisecond))

		// keys rotate refuses until the key has been published for
		// JWKS_MAX_AGE (1s here).
		waitFor(t, time.Now().Add(10*time.Second), "keys rotate", func() bool {
			out, err := keys("rotate")
			if err != nil && !strings.Contains(err.Error(), "--force") {
				t.Fatal(err)
			}
			return err == nil && strings.Contains(out, "current: "+kid)
		})
		rotated := time.Now()
		signed := map[*instance]apptest.Payload{}
		for _, in := range []*instance{a, b} {
			waitFor(t, rotated.Add(bound), in.name+" signs with key "+kid, func() bool {
				p := signUp(t, in.base, "keys-new-"+in.name)
				signed[in] = p
				return header(t, p.AccessToken)["kid"] == kid
			})
		}
		t.Logf("both instances sign with the new key %s after the rotation", time.Since(rotated).Round(time.Millisecond))
		for _, in := range []*instance{a, b} {
			if !jwksHas(t, in.base, kid) || !jwksHas(t, in.base, oldKID.(string)) {
				t.Fatalf("%s's JWKS lacks the new key %s or the previous %s", in.name, kid, oldKID)
			}
			// Each instance accepts the other's new tokens, and the
			// previous key's.
			for _, p := range []apptest.Payload{signed[a], signed[b], old} {
				if res := mustGQL(t, in.base, bearer(p.AccessToken), instancesMeDoc, nil); res.Code() != "" {
					t.Fatalf("me on %s with a token of key %v: %s", in.name, header(t, p.AccessToken)["kid"], res.Body)
				}
			}
		}
	})

	t.Run("kill -9 of one instance under refresh load", func(t *testing.T) {
		const clients, killAfter, afterKill = 24, 72, 5
		type client struct {
			sid, latest             string
			ok, okAfterKill, errors int
			failure                 string
			// recovered: the tokens a retry got after an error, with
			// when that error came.
			recovered map[string]time.Time
		}
		cs := make([]*client, clients)
		for i := range cs {
			p := signUp(t, lb, fmt.Sprintf("load-%d", i))
			cs[i] = &client{sid: sessionOf(t, p.AccessToken), latest: *p.RefreshToken, recovered: map[string]time.Time{}}
		}
		var (
			successes atomic.Int32
			killed    = make(chan struct{})
			killOnce  sync.Once
			wg        sync.WaitGroup
		)
		deadline := time.Now().Add(30 * time.Second)
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var failedAt time.Time
				for time.Now().Before(deadline) {
					dead := false
					select {
					case <-killed:
						dead = true
					default:
					}
					if dead && c.okAfterKill >= afterKill {
						return
					}
					res, err := gqlAt(lb+"/graphql", nil, instancesRefreshDoc, map[string]any{"t": c.latest})
					if err != nil {
						// nginx's 502: the instance died with the request;
						// it may have committed. Retry the same token.
						c.errors++
						if failedAt.IsZero() {
							failedAt = time.Now()
						}
						continue
					}
					var out struct{ Refresh struct{ RefreshToken string } }
					if res.Code() != "" || json.Unmarshal(res.Data, &out) != nil || out.Refresh.RefreshToken == "" {
						c.failure = string(res.Body)
						return
					}
					c.latest = out.Refresh.RefreshToken
					if !failedAt.IsZero() {
						c.recovered[c.latest], failedAt = failedAt, time.Time{}
					}
					c.ok++
					if dead {
						c.okAfterKill++
					}
					if successes.Add(1) == killAfter {
						killOnce.Do(func() {
							if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
								t.Errorf("kill -9 a: %v", err)
							}
							close(killed)
						})
					}
				}
				c.failure = "deadline"
			}()
		}
		wg.Wait()
		select {
		case <-killed:
		default:
			t.Fatalf("only %d refreshes succeeded: the instance was never killed", successes.Load())
		}
		select {
		case err := <-a.exited:
			a.exited <- err
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("a ended with %v, want killed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a still runs after kill -9")
		}
		var ok, retried, committedThere int
		for i, c := range cs {
			ok += c.ok
			retried += c.errors
			// A token made before the error was made by the killed
			// instance, which died before answering: the retry got it
			// again through the grace window.
			for tok, failedAt := range c.recovered {
				var created time.Time
				if err := db.QueryRow(`SELECT created_at FROM refresh_tokens WHERE token_hash = $1`, sha256Of(tok)).Scan(&created); err != nil {
					t.Fatal(err)
				}
				if created.Before(failedAt) {
					committedThere++
				}
			}
			if c.failure != "" {
				t.Errorf("client %d stopped (%d refreshes, %d after the kill): %s", i, c.ok, c.okAfterKill, c.failure)
				continue
			}
			live, revoked := liveTokens(t, c.sid)
			if revoked || len(live) != 1 || !bytes.Equal(live[0], sha256Of(c.latest)) {
				t.Errorf("client %d: session revoked %v, %d live tokens, the client's latest token live: %v",
					i, revoked, len(live), len(live) == 1 && bytes.Equal(live[0], sha256Of(c.latest)))
			}
		}
		t.Logf("%d clients: %d refreshes; kill -9 after %d; %d requests failed with the instance (502) and were retried, %d of whose rotations had committed there",
			clients, ok, killAfter, retried, committedThere)
		// b kept serving, directly and through nginx.
		if res := mustGQL(t, b.base, nil, instancesRefreshDoc, map[string]any{"t": cs[0].latest}); res.Code() != "" {
			t.Fatalf("b after the kill: %s", res.Body)
		}
	})
}

func sha256Of(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// liveStreams reads the instance's gauge of open session-event streams.
func liveStreams(t *testing.T, in *instance) int {
	t.Helper()
	res, err := http.Get(in.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, "gqlauth_live_session_streams "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("gqlauth_live_session_streams: %q", line)
			}
			return n
		}
	}
	t.Fatalf("%s's /metrics (%d) has no gqlauth_live_session_streams", in.name, res.StatusCode)
	return 0
}

// jwksHas reports whether the JWKS served at base lists kid.
func jwksHas(t *testing.T, base, kid string) bool {
	t.Helper()
	res, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct{ Keys []map[string]any }
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range doc.Keys {
		if k["kid"] == kid {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds, failing the test at the deadline.
func waitFor(t *testing.T, deadline time.Time, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not by the deadline", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
