package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/token"
)

// askVerify sends one request to /auth/verify (path may add a suffix and
// a query) with an optional bearer token.
func askVerify(t *testing.T, srv *apptest.Server, method, path, tok string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.HTTP.URL+"/auth/verify"+path, strings.NewReader("ignored body"))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if len(body) != 0 {
		t.Fatalf("/auth/verify wrote a body: %q", body)
	}
	return res
}

// TestForwardAuth: a valid token gets 200 and the X-Auth-* headers for
// any method a proxy uses, and under /auth/verify/… (Envoy appends the
// original path); no token, a bad one, a logged-out one get 401 with
// WWW-Authenticate as RFC 6750 has it; ?role=ADMIN refuses others with
// 403; nothing is cacheable.
func TestForwardAuth(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		email := apptest.UniqueEmail("fa")
		c := srv.Client()
		p := c.SignUp(t, email, "correct horse")
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			for _, path := range []string{"", "/api/orders/42?x=1"} {
				res := askVerify(t, srv, method, path, p.AccessToken)
				h := res.Header
				if res.StatusCode != http.StatusOK || h.Get("X-Auth-User-Id") != p.User.ID || h.Get("X-Auth-Session-Id") != sessionOf(t, p.AccessToken) ||
					h.Get("X-Auth-Role") != "USER" || h.Get("X-Auth-Email") != email || h.Get("Cache-Control") != "no-store" {
					t.Fatalf("%s /auth/verify%s: %d %v", method, path, res.StatusCode, h)
				}
			}
		}
		if res := askVerify(t, srv, http.MethodGet, "?role=ADMIN", p.AccessToken); res.StatusCode != http.StatusForbidden ||
			!strings.Contains(res.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) || res.Header.Get("X-Auth-User-Id") != "" {
			t.Fatalf("a USER with ?role=ADMIN: %d %v", res.StatusCode, res.Header)
		}
		if res := askVerify(t, srv, http.MethodGet, "?role=user", p.AccessToken); res.StatusCode != http.StatusOK {
			t.Fatalf("a USER with ?role=user: %d", res.StatusCode)
		}

		// Refusals.
		if res := askVerify(t, srv, http.MethodGet, "", ""); res.StatusCode != http.StatusUnauthorized ||
			res.Header.Get("WWW-Authenticate") != `Bearer realm="gqlauth"` {
			t.Fatalf("no token: %d %v", res.StatusCode, res.Header)
		}
		for name, tok := range map[string]string{
			"garbage":  "abc",
			"tampered": p.AccessToken[:len(p.AccessToken)-4] + "AAAA",
			"foreign": func() string {
				s, _, _ := otherIssuer(t, token.ES256).Issue(token.Subject{UserID: uuid.MustParse(p.User.ID), SessionID: uuid.MustParse(sessionOf(t, p.AccessToken)), Role: "USER"})
				return s
			}(),
		} {
			res := askVerify(t, srv, http.MethodGet, "", tok)
			if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != `Bearer realm="gqlauth", error="invalid_token"` ||
				res.Header.Get("X-Auth-User-Id") != "" {
				t.Fatalf("%s token: %d %v", name, res.StatusCode, res.Header)
			}
		}
		wantOK(t, logout(t, c, "", ""))
		if res := askVerify(t, srv, http.MethodGet, "", p.AccessToken); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("logged-out token: %d", res.StatusCode)
		}

		// An admin passes ?role=ADMIN.
		admin := newAdmin(t, srv, "fa-admin")
		if res := askVerify(t, srv, http.MethodGet, "?role=ADMIN", admin.Token); res.StatusCode != http.StatusOK || res.Header.Get("X-Auth-Role") != "ADMIN" {
			t.Fatalf("an ADMIN with ?role=ADMIN: %d %v", res.StatusCode, res.Header)
		}
	})
}

// TestForwardAuthFailsClosed: when the deny list (Redis) cannot be asked,
// /auth/verify answers 503, never 200.
func TestForwardAuthFailsClosed(t *testing.T) {
	cfg := apptest.Config(t, apptest.Backends[0], nil)
	up := apptest.Start(t, cfg)
	p := up.Client().SignUp(t, apptest.UniqueEmail("closed"), "correct horse")
	up.Close()
	// The same database and key, with a Redis that is not there.
	cfg.RedisURL, cfg.RedisKeyPrefix = "redis://127.0.0.1:1/0", "gqlauth-test-closed:"
	srv := apptest.Start(t, cfg)
	res := askVerify(t, srv, http.MethodGet, "", p.AccessToken)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("X-Auth-User-Id") != "" {
		t.Fatalf("deny list down: %d %v", res.StatusCode, res.Header)
	}
}
