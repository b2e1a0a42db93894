package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/token"
)

// upstreamSeen is what the application behind nginx received.
type upstreamSeen struct {
	mu       sync.Mutex
	requests []seenRequest
}

type seenRequest struct {
	method, path, body   string
	userID, role, email  string
	sessionID, authorize string
}

func (u *upstreamSeen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.requests = append(u.requests, seenRequest{
		method: r.Method, path: r.URL.Path, body: string(body),
		userID: r.Header.Get("X-Auth-User-Id"), role: r.Header.Get("X-Auth-Role"), email: r.Header.Get("X-Auth-Email"),
		sessionID: r.Header.Get("X-Auth-Session-Id"), authorize: r.Header.Get("Authorization"),
	})
	u.mu.Unlock()
	fmt.Fprintf(w, "hello %s", r.Header.Get("X-Auth-User-Id"))
}

func (u *upstreamSeen) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

func (u *upstreamSeen) last() seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.requests[len(u.requests)-1]
}

// startNginx runs nginx with examples/nginx/gqlauth.conf, its two
// upstreams pointed at gqlauth and app, on a free port, until the test
// ends; it returns nginx's base URL.
func startNginx(t *testing.T, gqlauth, app string) string {
	t.Helper()
	port := opsFreePort(t)
	return runNginx(t, port, "gqlauth.conf", map[string]string{
		"gqlauth.conf": nginxExample(t, "gqlauth.conf", map[string]string{
			"server 127.0.0.1:8080;": "server " + gqlauth + ";",
			"server 127.0.0.1:3000;": "server " + app + ";",
			"listen 8000;":           "listen 127.0.0.1:" + strconv.Itoa(port) + ";",
		}),
		"gqlauth-identity.conf":   nginxExample(t, "gqlauth-identity.conf", nil),
		"gqlauth-subrequest.conf": nginxExample(t, "gqlauth-subrequest.conf", nil),
	})
}

// nginxExample returns the file examples/nginx/name with each key of
// edits replaced by its value, failing if the file no longer says it.
func nginxExample(t *testing.T, name string, edits map[string]string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "nginx", name))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	for old, new := range edits {
		if !strings.Contains(conf, old) {
			t.Fatalf("examples/nginx/%s no longer says %q", name, old)
		}
		conf = strings.ReplaceAll(conf, old, new)
	}
	return conf
}

// runNginx runs nginx with the configuration files (name to content) in
// a directory of their own, the http block including the file include,
// until the test ends; it waits until nginx listens on port and returns
// the base URL there.
func runNginx(t *testing.T, port int, include string, files map[string]string) string {
	t.Helper()
	bin := apptest.Nginx(t)
	dir := t.TempDir()
	for name, conf := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user nobody nogroup;"
	}
	main := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %s;
error_log stderr warn;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path %s;
    proxy_temp_path %s;
    include %s;
}
`, user, filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "body"), filepath.Join(dir, "proxy"), include)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// The workers run as nobody: let them use the temporary files.
		_ = os.Chmod(dir, 0o755)
	}
	logs := &apptest.SyncBuffer{}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("nginx log:\n%s", logs.String())
		}
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return base
		}
		select {
		case <-done:
			t.Fatalf("nginx exited: %s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen: %s", logs.String())
		}
	}
}

// through sends a request through nginx with an optional bearer token
// and extra headers; it returns the status, the WWW-Authenticate header
// and the body.
func through(t *testing.T, base, method, path, tok, body string, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("WWW-Authenticate"), string(out)
}

// TestNginxForwardAuth puts a real nginx, configured with
// examples/nginx, in front of a small application: a request with a
// valid token reaches it with the caller's identity in X-Auth-* headers
// (the client's own X-Auth-* headers replaced); no token, a forged one,
// a logged-out one and one of a revoked key get 401 from nginx, a USER
// in the admin area 403, and the application never sees them.
func TestNginxForwardAuth(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		seen := &upstreamSeen{}
		app := httptest.NewServer(seen)
		t.Cleanup(app.Close)
		base := startNginx(t, strings.TrimPrefix(srv.HTTP.URL, "http://"), strings.TrimPrefix(app.URL, "http://"))

		email := apptest.UniqueEmail("nginx")
		c := srv.Client()
		p := c.SignUp(t, email, "correct horse")

		// Through: the identity comes from gqlauth, not from the client.
		status, _, body := through(t, base, http.MethodGet, "/orders/1", p.AccessToken, "", map[string]string{
			"X-Auth-User-Id": uuid.NewString(), "X-Auth-Role": "ADMIN",
		})
		got := seen.last()
		if status != http.StatusOK || body != "hello "+p.User.ID || got.userID != p.User.ID || got.role != "USER" ||
			got.email != email || got.sessionID != sessionOf(t, p.AccessToken) || got.path != "/orders/1" {
			t.Fatalf("valid token: %d %q, upstream saw %+v", status, body, got)
		}
		status, _, _ = through(t, base, http.MethodPost, "/orders", p.AccessToken, `{"item":42}`, map[string]string{"Content-Type": "application/json"})
		if got := seen.last(); status != http.StatusOK || got.method != http.MethodPost || got.body != `{"item":42}` {
			t.Fatalf("POST with a body: %d, upstream saw %+v", status, got)
		}
		// gqlauth's own endpoints pass through the same nginx.
		if status, _, body := through(t, base, http.MethodGet, "/.well-known/jwks.json", "", "", nil); status != http.StatusOK || !strings.Contains(body, srv.Keys.Current().ID) {
			t.Fatalf("JWKS through nginx: %d %s", status, body)
		}
		reached := seen.count()

		refused := map[string]string{
			"no token": "",
			"garbage":  "not-a-token",
			"forged": func() string {
				s, _, _ := otherIssuer(t, token.ES256).Issue(token.Subject{UserID: uuid.MustParse(p.User.ID), SessionID: uuid.New(), Role: "ADMIN"})
				return s
			}(),
			"tampered": p.AccessToken[:len(p.AccessToken)-4] + "AAAA",
		}
		check := func(name, tok string) {
			t.Helper()
			status, wwwAuth, _ := through(t, base, http.MethodGet, "/orders/1", tok, "", nil)
			if status != http.StatusUnauthorized || !strings.HasPrefix(wwwAuth, "Bearer") {
				t.Fatalf("%s: %d (WWW-Authenticate %q), want 401 from nginx", name, status, wwwAuth)
			}
		}
		for name, tok := range refused {
			check(name, tok)
		}
		// A USER in the admin area.
		if status, _, _ := through(t, base, http.MethodGet, "/admin/users", p.AccessToken, "", nil); status != http.StatusForbidden {
			t.Fatalf("USER in /admin/: %d, want 403", status)
		}

		// Logged out.
		wantOK(t, logout(t, c, "", ""))
		check("logged out", p.AccessToken)
		if n := seen.count(); n != reached {
			t.Fatalf("the application saw %d refused requests", n-reached)
		}

		// A token of a key revoked since (rotated away from, then revoked).
		old := srv.Client().SignUp(t, apptest.UniqueEmail("nginx-old"), "correct horse").AccessToken
		oldKID := srv.Keys.Current().ID
		fresh := rotateTo(t, srv, token.EdDSA)
		if status, _, _ := through(t, base, http.MethodGet, "/orders/2", old, "", nil); status != http.StatusOK {
			t.Fatalf("previous key's token during the overlap: %d", status)
		}
		if _, err := srv.KeyStore.Revoke(context.Background(), oldKID); err != nil {
			t.Fatal(err)
		}
		if err := srv.Keys.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		reached = seen.count()
		check("revoked key", old)

		if n := seen.count(); n != reached {
			t.Fatalf("the application saw %d refused requests", n-reached)
		}

		// An admin, with a token of the new key, gets into the admin area.
		admin := newAdmin(t, srv, "nginx-admin")
		if h := header(t, admin.Token); h["kid"] != fresh.ID {
			t.Fatalf("admin's token signed by %v, want %s", h["kid"], fresh.ID)
		}
		status, _, _ = through(t, base, http.MethodGet, "/admin/users", admin.Token, "", nil)
		if got := seen.last(); status != http.StatusOK || got.role != "ADMIN" || got.userID != admin.ID {
			t.Fatalf("ADMIN in /admin/: %d, upstream saw %+v", status, got)
		}
	})
}
