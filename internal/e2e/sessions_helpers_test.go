package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/token"
)

// GraphQL documents of the session operations.
const (
	refreshDoc = `mutation($t: String) { refresh(refreshToken: $t) { ` + apptest.PayloadFields + ` } }`
	logoutDoc  = `mutation($s: LogoutScope, $t: String) { logout(scope: $s, refreshToken: $t) }`
	revokeDoc  = `mutation($t: String, $id: ID) { revoke(refreshToken: $t, id: $id) }`
	tokensDoc  = `query($u: ID!) { refreshTokens(userId: $u) { id sessionId createdAt expiresAt lastUsedAt revokedAt revokedReason replacedBy userAgent ip active } }`
	meDoc      = `{ me { id } }`
)

// tokenRow is a RefreshToken as the refreshTokens query returns it.
type tokenRow struct {
	ID            string
	SessionID     string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	LastUsedAt    *time.Time
	RevokedAt     *time.Time
	RevokedReason *string
	ReplacedBy    *string
	UserAgent     *string
	IP            *string
	Active        bool
}

// refresh calls refresh with the token as argument ("" sends null, so the
// cookie is used) and returns the response.
func refresh(t *testing.T, c *apptest.Client, tok string) *apptest.Response {
	t.Helper()
	vars := map[string]any{"t": nil}
	if tok != "" {
		vars["t"] = tok
	}
	return c.Do(t, refreshDoc, vars)
}

// mustRefresh refreshes and returns the payload, failing on any error.
func mustRefresh(t *testing.T, c *apptest.Client, tok string) apptest.Payload {
	t.Helper()
	var out struct{ Refresh apptest.Payload }
	refresh(t, c, tok).Decode(t, &out)
	return out.Refresh
}

// logout calls logout with a scope ("" for the default) and an optional
// refresh token argument.
func logout(t *testing.T, c *apptest.Client, scope, tok string) *apptest.Response {
	t.Helper()
	vars := map[string]any{}
	if scope != "" {
		vars["s"] = scope
	}
	if tok != "" {
		vars["t"] = tok
	}
	return c.Do(t, logoutDoc, vars)
}

// meCode runs `me` with the access token and returns the error code ("" on success).
func meCode(t *testing.T, srv *apptest.Server, accessToken string) string {
	t.Helper()
	c := srv.Client()
	c.Token = accessToken
	return c.Do(t, meDoc, nil).Code()
}

// wantCode fails unless the response's first error has the code.
func wantCode(t *testing.T, res *apptest.Response, code string) {
	t.Helper()
	if res.Code() != code {
		t.Fatalf("want error %s, got %s", code, res.Body)
	}
}

// wantOK fails when the response has errors.
func wantOK(t *testing.T, res *apptest.Response) {
	t.Helper()
	if len(res.Errors) > 0 || res.Status != http.StatusOK {
		t.Fatalf("want success, got %d %s", res.Status, res.Body)
	}
}

// listTokens runs refreshTokens(userId) as c.
func listTokens(t *testing.T, c *apptest.Client, userID string) []tokenRow {
	t.Helper()
	var out struct{ RefreshTokens []tokenRow }
	c.Do(t, tokensDoc, map[string]any{"u": userID}).Decode(t, &out)
	return out.RefreshTokens
}

// dbTokens reads a user's refresh tokens from the database, oldest first.
func dbTokens(t *testing.T, srv *apptest.Server, userID string) []*ent.RefreshToken {
	t.Helper()
	rows, err := srv.DB.RefreshToken.Query().
		Where(refreshtoken.UserID(uuid.MustParse(userID))).
		Order(ent.Asc(refreshtoken.FieldCreatedAt), ent.Asc(refreshtoken.FieldID)).
		All(context.Background())
	if err != nil {
		t.Fatalf("read refresh tokens: %v", err)
	}
	return rows
}

// dbToken reads the stored row of a refresh token value.
func dbToken(t *testing.T, srv *apptest.Server, raw string) *ent.RefreshToken {
	t.Helper()
	rt, err := srv.DB.RefreshToken.Query().Where(refreshtoken.TokenHash(token.HashRefreshToken(raw))).Only(context.Background())
	if err != nil {
		t.Fatalf("read refresh token: %v", err)
	}
	return rt
}

// liveTokens counts the unrevoked tokens of a session.
func liveTokens(t *testing.T, srv *apptest.Server, sessionID uuid.UUID) int {
	t.Helper()
	n, err := srv.DB.RefreshToken.Query().
		Where(refreshtoken.SessionID(sessionID), refreshtoken.RevokedAtIsNil()).
		Count(context.Background())
	if err != nil {
		t.Fatalf("count live tokens: %v", err)
	}
	return n
}

// setExpiresAt moves a token's expiry (an immutable column, so through SQL).
func setExpiresAt(t *testing.T, srv *apptest.Server, id uuid.UUID, at time.Time) {
	t.Helper()
	q := "UPDATE refresh_tokens SET expires_at = $1 WHERE id = $2"
	if srv.DB.Dialect == dialect.SQLite {
		q = "UPDATE refresh_tokens SET expires_at = ? WHERE id = ?"
	}
	res, err := srv.DB.SQL.ExecContext(context.Background(), q, at, id)
	if err != nil {
		t.Fatalf("set expires_at: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("set expires_at changed %d rows", n)
	}
}

// claims decodes an access token's payload (the server verified it).
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decode JWT payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode JWT claims: %v", err)
	}
	return m
}

// setCookies parses the Set-Cookie headers of a response by name.
func setCookies(t *testing.T, res *apptest.Response) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, line := range res.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("bad Set-Cookie %q: %v", line, err)
		}
		out[c.Name] = c
	}
	return out
}

// wantCleared fails unless the response deletes both session cookies.
func wantCleared(t *testing.T, res *apptest.Response) {
	t.Helper()
	cs := setCookies(t, res)
	for _, name := range []string{"gqlauth_refresh", "gqlauth_csrf"} {
		c, ok := cs[name]
		if !ok || c.MaxAge >= 0 || c.Value != "" {
			t.Fatalf("cookie %s not cleared: %v", name, res.Header.Values("Set-Cookie"))
		}
	}
}

// post sends a GraphQL request without a testing.T, for goroutines:
// transport errors are returned instead of failing the test.
func post(url, bearer, query string, vars map[string]any) (*apptest.Response, error) {
	hdr := http.Header{}
	if bearer != "" {
		hdr.Set("Authorization", "Bearer "+bearer)
	}
	return gqlAt(url, hdr, query, vars)
}

// gqlAt posts a GraphQL operation to url with the headers hdr. It
// returns an error, rather than failing the test, so that goroutines may
// call it; an answer that is not GraphQL JSON (a proxy's 502 page) is an
// error too, with its status.
func gqlAt(url string, hdr http.Header, query string, vars map[string]any) (*apptest.Response, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	out := &apptest.Response{Status: res.StatusCode, Header: res.Header, Body: raw}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("status %d, not GraphQL: %.200s", res.StatusCode, raw)
	}
	return out, nil
}
