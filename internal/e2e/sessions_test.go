package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/session"
)

const password = "correct horse battery"

// refreshTTL is the default refresh-token lifetime (JWT_REFRESH_EXPIRES_IN=7d).
const refreshTTL = 7 * 24 * time.Hour

func TestRefreshRotatesToken(t *testing.T) {
	apptest.ForEach(t, apptest.AllBackends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		p0 := c.SignUp(t, apptest.UniqueEmail("rotate"), password)
		rt0 := *p0.RefreshToken

		res := refresh(t, c, rt0)
		wantOK(t, res)
		var out struct{ Refresh apptest.Payload }
		res.Decode(t, &out)
		p1 := out.Refresh
		if p1.RefreshToken == nil || *p1.RefreshToken == "" || *p1.RefreshToken == rt0 {
			t.Fatalf("refresh did not hand out a new refresh token: %+v", p1)
		}
		rt1 := *p1.RefreshToken
		if p1.TokenType != "Bearer" || p1.ExpiresIn != 900 || p1.User.ID != p0.User.ID {
			t.Fatalf("unexpected payload %+v", p1)
		}
		if s0, s1 := claims(t, p0.AccessToken)["sid"], claims(t, p1.AccessToken)["sid"]; s0 == nil || s0 != s1 {
			t.Fatalf("sid changed on refresh: %v -> %v", s0, s1)
		}
		if code := meCode(t, srv, p1.AccessToken); code != "" {
			t.Fatalf("new access token refused: %s", code)
		}

		// The cookies carry the new refresh token and a readable CSRF value.
		cs := setCookies(t, res)
		rc, csrf := cs["gqlauth_refresh"], cs["gqlauth_csrf"]
		if rc == nil || rc.Value != rt1 || !rc.HttpOnly || rc.Path != "/graphql" || rc.SameSite != http.SameSiteStrictMode {
			t.Fatalf("refresh cookie %+v", rc)
		}
		if max := int(refreshTTL.Seconds()); rc.MaxAge > max || rc.MaxAge < max-60 {
			t.Fatalf("refresh cookie Max-Age %d, want about %d", rc.MaxAge, max)
		}
		if rc.Secure {
			t.Fatalf("refresh cookie is Secure outside production (COOKIE_SECURE unset)")
		}
		if csrf == nil || csrf.Value == "" || csrf.HttpOnly || csrf.Path != "/" {
			t.Fatalf("csrf cookie %+v", csrf)
		}

		// The database: the old token rotated into the new one, same session.
		old, cur := dbToken(t, srv, rt0), dbToken(t, srv, rt1)
		if old.RevokedAt == nil || old.RevokedReason == nil || *old.RevokedReason != session.ReasonRotated {
			t.Fatalf("old token not revoked as rotated: %+v", old)
		}
		if old.ReplacedBy == nil || *old.ReplacedBy != cur.ID {
			t.Fatalf("old token replaced_by %v, want %v", old.ReplacedBy, cur.ID)
		}
		if old.LastUsedAt == nil {
			t.Fatalf("old token has no last_used_at")
		}
		if cur.SessionID != old.SessionID || cur.SessionID.String() != claims(t, p1.AccessToken)["sid"] {
			t.Fatalf("new token in session %v, want %v", cur.SessionID, old.SessionID)
		}
		if cur.RevokedAt != nil {
			t.Fatalf("new token %+v", cur)
		}
		// One session row: started at the sign-up, seen at the refresh,
		// within session.MaxLastSeenLag (a refresh this soon after the
		// sign-up leaves last_seen_at where the sign-up put it).
		sess, err := srv.DB.Session.Get(context.Background(), cur.SessionID)
		if err != nil {
			t.Fatalf("session of the rotated token: %v", err)
		}
		if sess.RevokedAt != nil || sess.LastSeenAt.Before(sess.CreatedAt) || sess.LastSeenAt.After(*old.LastUsedAt) ||
			old.LastUsedAt.Sub(sess.LastSeenAt) >= session.MaxLastSeenLag {
			t.Fatalf("session after a refresh: %+v (token used at %v)", sess, *old.LastUsedAt)
		}

		// The old token is spent; the new one rotates on.
		c2 := srv.Client()
		p2 := mustRefresh(t, c2, rt1)
		if *p2.RefreshToken == rt1 || *p2.RefreshToken == rt0 {
			t.Fatalf("second rotation reused a token")
		}
		c2.Token = p2.AccessToken
		rows := listTokens(t, c2, p0.User.ID)
		if len(rows) != 3 || !rows[0].Active || rows[1].Active || rows[2].Active {
			t.Fatalf("refreshTokens = %+v", rows)
		}
		if rows[1].LastUsedAt == nil || rows[2].LastUsedAt == nil || rows[0].LastUsedAt != nil {
			t.Fatalf("lastUsedAt not kept: %+v", rows)
		}
		if n := liveTokens(t, srv, old.SessionID); n != 1 {
			t.Fatalf("session has %d live tokens", n)
		}

		// An expired token does not rotate, and stays as it was.
		live := dbToken(t, srv, *p2.RefreshToken)
		setExpiresAt(t, srv, live.ID, time.Now().Add(-time.Second))
		wantCode(t, refresh(t, srv.Client(), *p2.RefreshToken), "UNAUTHENTICATED")
		if rt := dbToken(t, srv, *p2.RefreshToken); rt.RevokedAt != nil {
			t.Fatalf("expired token was rotated or revoked: %+v", rt)
		}
		// Nor does a token gqlauth never issued.
		wantCode(t, refresh(t, srv.Client(), "not-a-token"), "UNAUTHENTICATED")
	})
}

func TestRefreshTokenInBodyOff(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"REFRESH_TOKEN_IN_BODY": "false"})
		c := srv.Client()
		p := c.SignUp(t, apptest.UniqueEmail("cookieonly"), password)
		if p.RefreshToken != nil {
			t.Fatalf("signUp returned a refresh token in the body")
		}
		first := c.Cookie("gqlauth_refresh")
		if first == "" {
			t.Fatalf("no refresh cookie")
		}
		c.Token = ""
		c.Header.Set("X-CSRF-Token", c.Cookie("gqlauth_csrf"))
		p1 := mustRefresh(t, c, "")
		if p1.RefreshToken != nil {
			t.Fatalf("refresh returned a refresh token in the body")
		}
		if got := c.Cookie("gqlauth_refresh"); got == "" || got == first {
			t.Fatalf("refresh cookie not rotated")
		}
		if code := meCode(t, srv, p1.AccessToken); code != "" {
			t.Fatalf("access token refused: %s", code)
		}
	})
}

func TestRefreshReplayRevokesSession(t *testing.T) {
	apptest.ForEach(t, apptest.AllBackends, func(t *testing.T, b apptest.Backend) {
		t.Parallel() // mostly waiting out the grace
		srv := apptest.New(t, b, map[string]string{"REFRESH_REUSE_GRACE": "1s"})
		c := srv.Client()
		p0 := c.SignUp(t, apptest.UniqueEmail("replay"), password)
		rt0 := *p0.RefreshToken
		p1 := mustRefresh(t, c, rt0)
		p2 := mustRefresh(t, c, *p1.RefreshToken)
		newest := dbToken(t, srv, *p2.RefreshToken)

		time.Sleep(1200 * time.Millisecond)
		res := refresh(t, srv.Client(), rt0)
		wantCode(t, res, "UNAUTHENTICATED")
		if !strings.Contains(res.Errors[0].Message, "reuse") {
			t.Fatalf("message %q does not say why", res.Errors[0].Message)
		}

		// Every token of the session is revoked, the newest as reuse_detected.
		for _, rt := range dbTokens(t, srv, p0.User.ID) {
			if rt.RevokedAt == nil {
				t.Fatalf("token %v still live after replay", rt.ID)
			}
		}
		newest = dbToken(t, srv, *p2.RefreshToken)
		if newest.RevokedReason == nil || *newest.RevokedReason != session.ReasonReuseDetected {
			t.Fatalf("newest token reason %v, want reuse_detected", newest.RevokedReason)
		}
		wantCode(t, refresh(t, srv.Client(), *p2.RefreshToken), "UNAUTHENTICATED")

		// Its access tokens are refused at once, the newest and the first.
		for _, at := range []string{p2.AccessToken, p1.AccessToken, p0.AccessToken} {
			if code := meCode(t, srv, at); code != "UNAUTHENTICATED" {
				t.Fatalf("access token of a revoked session: %q, want UNAUTHENTICATED", code)
			}
		}

		logs := srv.Logs.String()
		if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "reuse detected") || !strings.Contains(logs, newest.SessionID.String()) {
			t.Fatalf("no warning about the replay in the log:\n%s", logs)
		}
		for _, secret := range []string{rt0, *p1.RefreshToken, *p2.RefreshToken, p2.AccessToken} {
			if strings.Contains(logs, secret) {
				t.Fatalf("a token value reached the log")
			}
		}
	})
}

func TestConcurrentRefreshWithoutGrace(t *testing.T) {
	const n = 20
	apptest.ForEach(t, apptest.AllBackends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"REFRESH_REUSE_GRACE": "0"})
		c := srv.Client()
		p0 := c.SignUp(t, apptest.UniqueEmail("race"), password)
		rt0 := *p0.RefreshToken

		results := refreshAtOnce(t, srv, rt0, n)

		var winners []apptest.Payload
		for i, res := range results {
			if len(res.Errors) == 0 {
				var out struct{ Refresh apptest.Payload }
				res.Decode(t, &out)
				winners = append(winners, out.Refresh)
				continue
			}
			if res.Code() != "UNAUTHENTICATED" {
				t.Fatalf("request %d: %s", i, res.Body)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%d of %d concurrent refreshes succeeded, want exactly 1", len(winners), n)
		}
		// The others were replays: the session is over, the winner's tokens too.
		sid := dbToken(t, srv, rt0).SessionID
		if live := liveTokens(t, srv, sid); live != 0 {
			t.Fatalf("session still has %d live tokens", live)
		}
		wantCode(t, refresh(t, srv.Client(), *winners[0].RefreshToken), "UNAUTHENTICATED")
		if code := meCode(t, srv, winners[0].AccessToken); code != "UNAUTHENTICATED" {
			t.Fatalf("winner's access token: %q, want UNAUTHENTICATED", code)
		}
	})
}

func TestConcurrentRefreshWithinGrace(t *testing.T) {
	for _, n := range []int{2, 8} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) { testConcurrentRefreshWithinGrace(t, n) })
	}
}

// testConcurrentRefreshWithinGrace refreshes one token n times at once.
func testConcurrentRefreshWithinGrace(t *testing.T, n int) {
	{
		apptest.ForEach(t, apptest.AllBackends, func(t *testing.T, b apptest.Backend) {
			srv := apptest.New(t, b, nil) // REFRESH_REUSE_GRACE defaults to 10s
			c := srv.Client()
			p0 := c.SignUp(t, apptest.UniqueEmail("tabs"), password)
			rt0 := *p0.RefreshToken

			results := refreshAtOnce(t, srv, rt0, n)

			successor := ""
			access := map[string]bool{}
			for i, res := range results {
				var out struct{ Refresh apptest.Payload }
				res.Decode(t, &out)
				got := *out.Refresh.RefreshToken
				if successor == "" {
					successor = got
				}
				if got != successor || got == rt0 {
					t.Fatalf("concurrent refreshes forked the session: %q vs %q", got, successor)
				}
				access[out.Refresh.AccessToken] = true
				if code := meCode(t, srv, out.Refresh.AccessToken); code != "" {
					t.Fatalf("access token %d refused: %s", i, code)
				}
			}
			if len(access) != n {
				t.Fatalf("%d distinct access tokens for %d refreshes", len(access), n)
			}
			sid := dbToken(t, srv, rt0).SessionID
			if live := liveTokens(t, srv, sid); live != 1 {
				t.Fatalf("session has %d live tokens, want 1", live)
			}
			rows := listTokens(t, c, p0.User.ID)
			active := 0
			for _, r := range rows {
				if r.Active {
					active++
				}
			}
			if len(rows) != 2 || active != 1 || !rows[0].Active {
				t.Fatalf("refreshTokens = %+v", rows)
			}

			// The session goes on: the successor rotates, and the parent,
			// still within the grace, follows the chain to the newest token.
			p2 := mustRefresh(t, srv.Client(), successor)
			p3 := mustRefresh(t, srv.Client(), rt0)
			if *p3.RefreshToken != *p2.RefreshToken {
				t.Fatalf("grace refresh of the parent did not follow the chain")
			}
			if live := liveTokens(t, srv, sid); live != 1 {
				t.Fatalf("session has %d live tokens, want 1", live)
			}
		})
	}
}

func TestSessionMaxLifetime(t *testing.T) {
	apptest.ForEach(t, apptest.AllBackends, func(t *testing.T, b apptest.Backend) {
		t.Parallel() // mostly waiting for the session to end
		srv := apptest.New(t, b, map[string]string{"SESSION_MAX_LIFETIME": "3s"})
		c := srv.Client()
		res := c.Do(t, `mutation($in: SignUpInput!) { signUp(input: $in) { refreshToken } }`,
			map[string]any{"in": map[string]any{"email": apptest.UniqueEmail("lifetime"), "password": password}})
		wantOK(t, res)
		started := time.Now()
		if rc := setCookies(t, res)["gqlauth_refresh"]; rc == nil || rc.MaxAge > 3 {
			t.Fatalf("refresh cookie outlives the session: %+v", rc)
		}
		rt := c.Cookie("gqlauth_refresh")
		first := dbToken(t, srv, rt)
		sess, err := srv.DB.Session.Get(context.Background(), first.SessionID)
		if err != nil {
			t.Fatal(err)
		}
		if first.ExpiresAt.After(sess.CreatedAt.Add(3 * time.Second)) {
			t.Fatalf("first token expires %v, after the session ends", first.ExpiresAt)
		}

		p := mustRefresh(t, c, rt)
		next := dbToken(t, srv, *p.RefreshToken)
		if next.ExpiresAt.After(sess.CreatedAt.Add(3 * time.Second)) {
			t.Fatalf("rotated token expires %v, after the session ends", next.ExpiresAt)
		}

		time.Sleep(time.Until(started.Add(3200 * time.Millisecond)))
		res = refresh(t, srv.Client(), *p.RefreshToken)
		wantCode(t, res, "UNAUTHENTICATED")
		if !strings.Contains(res.Errors[0].Message, "maximum lifetime") {
			t.Fatalf("message %q does not say the session ended", res.Errors[0].Message)
		}
		if n := liveTokens(t, srv, next.SessionID); n != 1 {
			t.Fatalf("failed refresh changed the session: %d live tokens", n)
		}
	})
}

func TestLogoutScopes(t *testing.T) {
	apptest.ForEach(t, apptest.AllBackends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		email := apptest.UniqueEmail("logout")
		c1 := srv.Client()
		p1 := c1.SignUp(t, email, password)
		uid := p1.User.ID
		c2, c3 := srv.Client(), srv.Client()
		p2 := c2.SignIn(t, email, password)
		p3 := c3.SignIn(t, email, password)
		// A second access token of session 1, the first one still unexpired.
		p1b := mustRefresh(t, c1, *p1.RefreshToken)
		c1.Token = p1b.AccessToken

		// LOCAL ends session 1 only.
		res := logout(t, c1, "LOCAL", "")
		wantOK(t, res)
		wantCleared(t, res)
		if c1.Cookie("gqlauth_refresh") != "" {
			t.Fatalf("refresh cookie kept after logout")
		}
		for _, at := range []string{p1.AccessToken, p1b.AccessToken} {
			if code := meCode(t, srv, at); code != "UNAUTHENTICATED" {
				t.Fatalf("logged-out access token on me: %q", code)
			}
		}
		// Any query, not just me.
		wantCode(t, c1.Do(t, tokensDoc, map[string]any{"u": uid}), "UNAUTHENTICATED")
		wantCode(t, logout(t, c1, "LOCAL", ""), "UNAUTHENTICATED")
		wantCode(t, refresh(t, srv.Client(), *p1b.RefreshToken), "UNAUTHENTICATED")
		s1 := dbToken(t, srv, *p1b.RefreshToken)
		if s1.RevokedReason == nil || *s1.RevokedReason != session.ReasonLogout {
			t.Fatalf("session 1 token reason %v, want logout", s1.RevokedReason)
		}
		for _, at := range []string{p2.AccessToken, p3.AccessToken} {
			if code := meCode(t, srv, at); code != "" {
				t.Fatalf("LOCAL logout ended another session: %s", code)
			}
		}

		// OTHERS ends session 3 and keeps session 2.
		res = logout(t, c2, "OTHERS", "")
		wantOK(t, res)
		if code := meCode(t, srv, p3.AccessToken); code != "UNAUTHENTICATED" {
			t.Fatalf("OTHERS kept another session's access token: %q", code)
		}
		wantCode(t, refresh(t, srv.Client(), *p3.RefreshToken), "UNAUTHENTICATED")
		if code := meCode(t, srv, p2.AccessToken); code != "" {
			t.Fatalf("OTHERS ended the current session: %s", code)
		}
		p2b := mustRefresh(t, c2, *p2.RefreshToken)

		// GLOBAL ends every session and every access token the user held.
		c4 := srv.Client()
		p4 := c4.SignIn(t, email, password)
		res = logout(t, c4, "GLOBAL", "")
		wantOK(t, res)
		wantCleared(t, res)
		for _, at := range []string{p2.AccessToken, p2b.AccessToken, p4.AccessToken} {
			if code := meCode(t, srv, at); code != "UNAUTHENTICATED" {
				t.Fatalf("GLOBAL kept an access token: %q", code)
			}
		}
		for _, rt := range dbTokens(t, srv, uid) {
			if rt.RevokedAt == nil {
				t.Fatalf("GLOBAL left token %v live", rt.ID)
			}
		}
		// Signing in again, even within the same second, works.
		c5 := srv.Client()
		p5 := c5.SignIn(t, email, password)
		if code := meCode(t, srv, p5.AccessToken); code != "" {
			t.Fatalf("sign-in after GLOBAL logout refused: %s", code)
		}

		// A refresh token alone (argument) is enough to log out.
		anon := srv.Client()
		wantOK(t, logout(t, anon, "", *p5.RefreshToken))
		if code := meCode(t, srv, p5.AccessToken); code != "UNAUTHENTICATED" {
			t.Fatalf("logout by refresh token kept the session's access token: %q", code)
		}
		wantCode(t, logout(t, anon, "", *p5.RefreshToken), "UNAUTHENTICATED")

		// The refresh cookie too, but only with the CSRF header.
		c6 := srv.Client()
		p6 := c6.SignIn(t, email, password)
		c6.Token = ""
		wantCode(t, logout(t, c6, "", ""), "FORBIDDEN")
		if code := meCode(t, srv, p6.AccessToken); code != "" {
			t.Fatalf("refused logout ended the session: %s", code)
		}
		c6.Header.Set("X-CSRF-Token", c6.Cookie("gqlauth_csrf"))
		wantOK(t, logout(t, c6, "", ""))
		if code := meCode(t, srv, p6.AccessToken); code != "UNAUTHENTICATED" {
			t.Fatalf("cookie logout kept the access token: %q", code)
		}

		// Nothing at all: UNAUTHENTICATED.
		wantCode(t, logout(t, srv.Client(), "", ""), "UNAUTHENTICATED")
	})
}

func TestRevoke(t *testing.T) {
	apptest.ForEach(t, apptest.AllBackends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		ctx := context.Background()
		aliceEmail := apptest.UniqueEmail("alice")
		a1 := srv.Client()
		pa1 := a1.SignUp(t, aliceEmail, password)
		a2 := srv.Client()
		pa2 := a2.SignIn(t, aliceEmail, password)
		bob := srv.Client()
		pb := bob.SignUp(t, apptest.UniqueEmail("bob"), password)

		// By id: ends that whole session.
		s2 := dbToken(t, srv, *pa2.RefreshToken)
		wantOK(t, a1.Do(t, revokeDoc, map[string]any{"id": s2.ID.String()}))
		if code := meCode(t, srv, pa2.AccessToken); code != "UNAUTHENTICATED" {
			t.Fatalf("revoked session's access token: %q", code)
		}
		wantCode(t, refresh(t, srv.Client(), *pa2.RefreshToken), "UNAUTHENTICATED")
		if rt := dbToken(t, srv, *pa2.RefreshToken); rt.RevokedReason == nil || *rt.RevokedReason != session.ReasonRevoked {
			t.Fatalf("reason %v, want revoked", rt.RevokedReason)
		}
		if code := meCode(t, srv, pa1.AccessToken); code != "" {
			t.Fatalf("revoking another session ended the caller's: %s", code)
		}
		// Already revoked: BAD_USER_INPUT, by id and by value.
		wantCode(t, a1.Do(t, revokeDoc, map[string]any{"id": s2.ID.String()}), "BAD_USER_INPUT")
		wantCode(t, a1.Do(t, revokeDoc, map[string]any{"t": *pa2.RefreshToken}), "BAD_USER_INPUT")

		// Someone else's, or nobody's: NOT_FOUND, the same answer.
		s1 := dbToken(t, srv, *pa1.RefreshToken)
		for _, vars := range []map[string]any{
			{"id": s1.ID.String()},
			{"t": *pa1.RefreshToken},
			{"id": uuid.NewString()},
			{"t": "no-such-token"},
		} {
			wantCode(t, bob.Do(t, revokeDoc, vars), "NOT_FOUND")
		}
		if rt := dbToken(t, srv, *pa1.RefreshToken); rt.RevokedAt != nil {
			t.Fatalf("bob revoked alice's token")
		}
		// No access token: UNAUTHENTICATED.
		wantCode(t, srv.Client().Do(t, revokeDoc, map[string]any{"id": s1.ID.String()}), "UNAUTHENTICATED")

		// The argument wins over the cookie: a1 holds session 1's cookie.
		a3 := srv.Client()
		pa3 := a3.SignIn(t, aliceEmail, password)
		a1.Header.Set("X-CSRF-Token", a1.Cookie("gqlauth_csrf"))
		wantOK(t, a1.Do(t, revokeDoc, map[string]any{"t": *pa3.RefreshToken}))
		if code := meCode(t, srv, pa3.AccessToken); code != "UNAUTHENTICATED" {
			t.Fatalf("session named by the argument not revoked: %q", code)
		}
		if rt := dbToken(t, srv, *pa1.RefreshToken); rt.RevokedAt != nil {
			t.Fatalf("the cookie's session was revoked instead of the argument's")
		}

		// The cookie alone needs the CSRF header, then revokes the caller's session.
		a1.Header.Del("X-CSRF-Token")
		wantCode(t, a1.Do(t, revokeDoc, nil), "FORBIDDEN")
		a1.Header.Set("X-CSRF-Token", a1.Cookie("gqlauth_csrf"))
		res := a1.Do(t, revokeDoc, nil)
		wantOK(t, res)
		wantCleared(t, res)
		if code := meCode(t, srv, pa1.AccessToken); code != "UNAUTHENTICATED" {
			t.Fatalf("cookie session not revoked: %q", code)
		}

		// Expired: BAD_USER_INPUT.
		a4 := srv.Client()
		pa4 := a4.SignIn(t, aliceEmail, password)
		a5 := srv.Client()
		pa5 := a5.SignIn(t, aliceEmail, password)
		s5 := dbToken(t, srv, *pa5.RefreshToken)
		setExpiresAt(t, srv, s5.ID, time.Now().Add(-time.Minute))
		res = a4.Do(t, revokeDoc, map[string]any{"id": s5.ID.String()})
		wantCode(t, res, "BAD_USER_INPUT")
		if !strings.Contains(res.Errors[0].Message, "expired") {
			t.Fatalf("unclear message %q", res.Errors[0].Message)
		}

		// An admin may revoke anyone's.
		admin := srv.Client()
		adminEmail := apptest.UniqueEmail("admin")
		pAdmin := admin.SignUp(t, adminEmail, password)
		if err := srv.DB.User.UpdateOneID(uuid.MustParse(pAdmin.User.ID)).SetRole(user.RoleADMIN).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		admin.SignIn(t, adminEmail, password)
		sb := dbToken(t, srv, *pb.RefreshToken)
		wantOK(t, admin.Do(t, revokeDoc, map[string]any{"id": sb.ID.String()}))
		if code := meCode(t, srv, pb.AccessToken); code != "UNAUTHENTICATED" {
			t.Fatalf("admin revoke kept bob's access token: %q", code)
		}
		if code := meCode(t, srv, pa4.AccessToken); code != "" {
			t.Fatalf("unrelated session ended: %s", code)
		}
	})
}

func TestRefreshTokensQuery(t *testing.T) {
	apptest.ForEach(t, apptest.AllBackends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		alice := srv.Client()
		pa := alice.SignUp(t, apptest.UniqueEmail("alice"), password)
		p1 := mustRefresh(t, alice, *pa.RefreshToken)
		p2 := mustRefresh(t, alice, *p1.RefreshToken)
		alice.Token = p2.AccessToken
		other := srv.Client()
		other.SignIn(t, *pa.User.Email, password) // a second session

		res := alice.Do(t, tokensDoc, map[string]any{"u": pa.User.ID})
		var out struct{ RefreshTokens []tokenRow }
		res.Decode(t, &out)
		rows := out.RefreshTokens
		if len(rows) != 4 {
			t.Fatalf("%d tokens, want 4: %s", len(rows), res.Body)
		}
		for i := 1; i < len(rows); i++ {
			if rows[i].CreatedAt.After(rows[i-1].CreatedAt) {
				t.Fatalf("not newest first: %+v", rows)
			}
		}
		active := map[bool]int{}
		for _, r := range rows {
			active[r.Active]++
			if r.Active != (r.RevokedAt == nil) {
				t.Fatalf("active flag disagrees with revokedAt: %+v", r)
			}
			if r.UserAgent == nil || *r.UserAgent == "" || r.IP == nil || *r.IP != "127.0.0.1" {
				t.Fatalf("user agent / ip not recorded: %+v", r)
			}
		}
		if active[true] != 2 || active[false] != 2 {
			t.Fatalf("active counts %v, want 2 live (two sessions) and 2 rotated", active)
		}
		for _, r := range rows {
			if r.RevokedReason != nil && (*r.RevokedReason != session.ReasonRotated || r.ReplacedBy == nil) {
				t.Fatalf("rotated token without reason/replacedBy: %+v", r)
			}
		}
		for _, secret := range []string{*pa.RefreshToken, *p1.RefreshToken, *p2.RefreshToken} {
			if strings.Contains(string(res.Body), secret) {
				t.Fatalf("refreshTokens shows a token value")
			}
		}

		// The type has no field that could carry a token or its hash.
		var intro struct {
			Type struct{ Fields []struct{ Name string } } `json:"__type"`
		}
		alice.Do(t, `{ __type(name: "RefreshToken") { fields { name } } }`, nil).Decode(t, &intro)
		var names []string
		for _, f := range intro.Type.Fields {
			names = append(names, f.Name)
			l := strings.ToLower(f.Name)
			if strings.Contains(l, "hash") || strings.Contains(l, "sealed") || strings.Contains(l, "secret") || l == "token" || l == "value" {
				t.Fatalf("RefreshToken exposes %q", f.Name)
			}
		}
		have := " " + strings.Join(names, " ") + " "
		for _, f := range strings.Fields("id sessionId createdAt expiresAt lastUsedAt revokedAt revokedReason replacedBy userAgent ip active") {
			if !strings.Contains(have, " "+f+" ") {
				t.Fatalf("RefreshToken lacks %s: %v", f, names)
			}
		}

		// Another user may not look; an admin may.
		bob := srv.Client()
		bob.SignUp(t, apptest.UniqueEmail("bob"), password)
		wantCode(t, bob.Do(t, tokensDoc, map[string]any{"u": pa.User.ID}), "FORBIDDEN")
		wantCode(t, srv.Client().Do(t, tokensDoc, map[string]any{"u": pa.User.ID}), "UNAUTHENTICATED")
		admin := srv.Client()
		adminEmail := apptest.UniqueEmail("admin")
		pAdmin := admin.SignUp(t, adminEmail, password)
		if err := srv.DB.User.UpdateOneID(uuid.MustParse(pAdmin.User.ID)).SetRole(user.RoleADMIN).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		admin.SignIn(t, adminEmail, password)
		if got := listTokens(t, admin, pa.User.ID); len(got) != 4 {
			t.Fatalf("admin sees %d tokens, want 4", len(got))
		}
	})
}

func TestCookieRefreshNeedsCSRFHeader(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		p := c.SignUp(t, apptest.UniqueEmail("csrf"), password)
		c.Token = ""
		csrf := c.Cookie("gqlauth_csrf")
		if csrf == "" || c.Cookie("gqlauth_refresh") != *p.RefreshToken {
			t.Fatalf("signUp did not set the cookies")
		}

		wantCode(t, refresh(t, c, ""), "FORBIDDEN")
		c.Header.Set("X-CSRF-Token", "wrong"+csrf)
		wantCode(t, refresh(t, c, ""), "FORBIDDEN")
		if rt := dbToken(t, srv, *p.RefreshToken); rt.RevokedAt != nil {
			t.Fatalf("a refused refresh rotated the token")
		}

		c.Header.Set("X-CSRF-Token", csrf)
		p1 := mustRefresh(t, c, "")
		if c.Cookie("gqlauth_refresh") != *p1.RefreshToken || c.Cookie("gqlauth_csrf") == csrf {
			t.Fatalf("cookie refresh did not rotate the cookies")
		}
		// The header must follow the new CSRF cookie.
		wantCode(t, refresh(t, c, ""), "FORBIDDEN")
		c.Header.Set("X-CSRF-Token", c.Cookie("gqlauth_csrf"))
		mustRefresh(t, c, "")
	})
}

func TestOnlyJSONPostsMutate(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		ctx := context.Background()
		signUp := func(email string) string {
			return `mutation { signUp(input: {email: "` + email + `", password: "` + password + `"}) { accessToken } }`
		}
		exists := func(email string) bool {
			n, err := srv.DB.User.Query().Where(user.Email(email)).Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n > 0
		}
		refused := func(what string, res *apptest.Response, email string) {
			t.Helper()
			if res.Status == http.StatusOK && len(res.Errors) == 0 {
				t.Fatalf("%s: accepted: %s", what, res.Body)
			}
			if exists(email) {
				t.Fatalf("%s: the mutation ran", what)
			}
		}

		email := apptest.UniqueEmail("form")
		form := "query=" + strings.ReplaceAll(signUp(email), " ", "+")
		refused("form-urlencoded", c.Post(t, "application/x-www-form-urlencoded", []byte(form)), email)

		email = apptest.UniqueEmail("multipart")
		ops, _ := json.Marshal(map[string]any{"query": signUp(email), "variables": map[string]any{}})
		mp := "--B\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n" + string(ops) +
			"\r\n--B\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{}\r\n--B--\r\n"
		refused("multipart", c.Post(t, "multipart/form-data; boundary=B", []byte(mp)), email)

		email = apptest.UniqueEmail("plain")
		refused("text/plain", c.Post(t, "text/plain", ops), email)

		email = apptest.UniqueEmail("get")
		req, _ := http.NewRequest(http.MethodGet, srv.URL()+"?query="+url.QueryEscape(signUp(email)), nil)
		refused("mutation over GET", c.Send(t, req), email)

		// The same document as a JSON POST runs, and GET still serves queries.
		email = apptest.UniqueEmail("json")
		wantOK(t, c.Do(t, signUp(email), nil))
		if !exists(email) {
			t.Fatalf("JSON POST signUp did not create the user")
		}
		req, _ = http.NewRequest(http.MethodGet, srv.URL()+"?query="+url.QueryEscape(`{ __typename }`), nil)
		wantOK(t, c.Send(t, req))
	})
}

func TestDeleteOldTokens(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		ctx := context.Background()
		email := apptest.UniqueEmail("housekeeping")
		srv.Client().SignUp(t, email, password)
		for range 4 {
			srv.Client().SignIn(t, email, password)
		}
		u, err := srv.DB.User.Query().Where(user.Email(email)).Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rows := dbTokens(t, srv, u.ID.String())
		if len(rows) != 5 {
			t.Fatalf("%d tokens, want 5", len(rows))
		}
		now := time.Now()
		live, revokedOld, revokedNew, expiredOld, expiredNew := rows[0], rows[1], rows[2], rows[3], rows[4]
		revoke := func(id uuid.UUID, at time.Time) {
			if err := srv.DB.RefreshToken.UpdateOneID(id).SetRevokedAt(at).SetRevokedReason(session.ReasonLogout).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		revoke(revokedOld.ID, now.Add(-2*time.Hour))
		revoke(revokedNew.ID, now.Add(-30*time.Minute))
		setExpiresAt(t, srv, expiredOld.ID, now.Add(-2*time.Hour))
		setExpiresAt(t, srv, expiredNew.ID, now.Add(-30*time.Minute))

		// Denials: one expired (no token it denies can be valid), one not.
		expiredDenial := srv.DB.DeniedToken.Create().SetUserID(u.ID).SetJti("old").SetExpiresAt(now.Add(-time.Minute)).SaveX(ctx)
		liveDenial := srv.DB.DeniedToken.Create().SetUserID(u.ID).SetIssuedBefore(now).SetExpiresAt(now.Add(time.Minute)).SaveX(ctx)

		n, err := srv.Sessions.DeleteOldTokens(ctx, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.DB.DeniedToken.Get(ctx, expiredDenial.ID); !ent.IsNotFound(err) {
			t.Fatalf("expired denial kept: %v", err)
		}
		if _, err := srv.DB.DeniedToken.Get(ctx, liveDenial.ID); err != nil {
			t.Fatalf("live denial: %v", err)
		}
		if n != 2 {
			t.Fatalf("deleted %d tokens, want 2", n)
		}
		left := map[uuid.UUID]bool{}
		for _, rt := range dbTokens(t, srv, u.ID.String()) {
			left[rt.ID] = true
		}
		if len(left) != 3 || !left[live.ID] || !left[revokedNew.ID] || !left[expiredNew.ID] {
			t.Fatalf("kept %v, want the live, recently revoked and recently expired tokens", left)
		}
		if n, _ := srv.DB.RefreshToken.Query().Where(refreshtoken.IDIn(revokedOld.ID, expiredOld.ID)).Count(ctx); n != 0 {
			t.Fatalf("old tokens still stored")
		}
	})
}

func TestCookieSettings(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], map[string]string{
		"REFRESH_COOKIE_NAME": "app_rt",
		"COOKIE_SECURE":       "true",
		"COOKIE_SAMESITE":     "Lax",
		"COOKIE_DOMAIN":       "auth.example.test",
	})
	c := srv.Client()
	res := c.Do(t, `mutation($in: SignUpInput!) { signUp(input: $in) { refreshToken } }`,
		map[string]any{"in": map[string]any{"email": apptest.UniqueEmail("cookies"), "password": password}})
	var out struct{ SignUp struct{ RefreshToken string } }
	res.Decode(t, &out)
	cs := setCookies(t, res)
	rc, csrf := cs["app_rt"], cs["gqlauth_csrf"]
	if rc == nil || cs["gqlauth_refresh"] != nil {
		t.Fatalf("REFRESH_COOKIE_NAME ignored: %v", res.Header.Values("Set-Cookie"))
	}
	for _, ck := range []*http.Cookie{rc, csrf} {
		if ck == nil || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Domain != "auth.example.test" {
			t.Fatalf("cookie settings ignored: %+v", ck)
		}
	}
	if rc.Value != out.SignUp.RefreshToken || !rc.HttpOnly || csrf.HttpOnly {
		t.Fatalf("cookies %+v %+v", rc, csrf)
	}

	// A browser sends the renamed cookie back: refresh reads it (with the CSRF header).
	body, _ := json.Marshal(map[string]any{"query": refreshDoc})
	req, _ := http.NewRequest(http.MethodPost, srv.URL(), strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", "app_rt="+rc.Value+"; gqlauth_csrf="+csrf.Value)
	req.Header.Set("X-CSRF-Token", csrf.Value)
	wantOK(t, srv.Client().Send(t, req))
	if rt := dbToken(t, srv, rc.Value); rt.RevokedReason == nil || *rt.RevokedReason != session.ReasonRotated {
		t.Fatalf("refresh through the renamed cookie did not rotate it")
	}
}

func TestCORSWithCredentials(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.test,https://admin.example.test"})
	preflight := func(origin string) http.Header {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL(), nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, x-csrf-token")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header
	}
	h := preflight("https://admin.example.test")
	if h.Get("Access-Control-Allow-Origin") != "https://admin.example.test" || h.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "x-csrf-token") {
		t.Fatalf("allowed origin preflight: %v", h)
	}
	if h := preflight("https://evil.example.test"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin allowed: %v", h)
	}

	// Without CORS_ALLOWED_ORIGINS no origin is granted anything.
	plain := apptest.New(t, apptest.Backends[0], nil)
	c := plain.Client()
	c.Header.Set("Origin", "https://app.example.test")
	if res := c.Do(t, `{ __typename }`, nil); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("same-origin-only server answered with CORS headers: %v", res.Header)
	}
}

// TestSessionEndRacingRefresh ends a session (logout, revoke, or a
// replay of an old token) while the same session refreshes: once both
// have answered, the session must have no live refresh token left,
// whichever came first.
func TestSessionEndRacingRefresh(t *testing.T) {
	const rounds = 25
	type ender func(srv *apptest.Server, p apptest.Payload, old string) (*apptest.Response, error)
	enders := []struct {
		name string
		end  ender
		ok   bool // whether the ending request itself succeeds
	}{
		{"logout", func(srv *apptest.Server, p apptest.Payload, _ string) (*apptest.Response, error) {
			return post(srv.URL(), p.AccessToken, logoutDoc, map[string]any{"s": "LOCAL"})
		}, true},
		{"revoke", func(srv *apptest.Server, p apptest.Payload, _ string) (*apptest.Response, error) {
			return post(srv.URL(), p.AccessToken, revokeDoc, map[string]any{"t": *p.RefreshToken})
		}, true},
		{"replay", func(srv *apptest.Server, _ apptest.Payload, old string) (*apptest.Response, error) {
			return post(srv.URL(), "", refreshDoc, map[string]any{"t": old})
		}, false},
	}
	for _, e := range enders {
		t.Run(e.name, func(t *testing.T) {
			apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
				srv := apptest.New(t, b, map[string]string{"REFRESH_REUSE_GRACE": "0"})
				email := apptest.UniqueEmail("race-" + e.name)
				srv.Client().SignUp(t, email, password)
				for i := range rounds {
					c := srv.Client()
					p0 := c.SignIn(t, email, password)
					p := mustRefresh(t, c, *p0.RefreshToken) // p0's token is now an old one
					start := make(chan struct{})
					var wg sync.WaitGroup
					var endRes, refreshRes *apptest.Response
					var endErr, refreshErr error
					wg.Add(2)
					go func() {
						defer wg.Done()
						<-start
						endRes, endErr = e.end(srv, p, *p0.RefreshToken)
					}()
					go func() {
						defer wg.Done()
						<-start
						refreshRes, refreshErr = post(srv.URL(), "", refreshDoc, map[string]any{"t": *p.RefreshToken})
					}()
					close(start)
					wg.Wait()
					if endErr != nil || refreshErr != nil {
						t.Fatalf("round %d: %v %v", i, endErr, refreshErr)
					}
					if e.ok && len(endRes.Errors) > 0 {
						if endRes.Code() != "BAD_USER_INPUT" {
							t.Fatalf("round %d: %s: %s", i, e.name, endRes.Body)
						}
						continue // the rotation came first: the named token was no longer live
					}
					sid := dbToken(t, srv, *p.RefreshToken).SessionID
					if live := liveTokens(t, srv, sid); live != 0 {
						t.Fatalf("round %d: %s answered but the session kept %d live refresh token(s) (refresh: %s)", i, e.name, live, refreshRes.Body)
					}
				}
			})
		})
	}
}

func TestCookiesSecureInProduction(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], map[string]string{"APP_ENV": "production", "BCRYPT_COST": "10", "EMAIL_VERIFICATION": "off"})
	res := srv.Client().Do(t, `mutation($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
		map[string]any{"in": map[string]any{"email": apptest.UniqueEmail("prod"), "password": password}})
	wantOK(t, res)
	cs := setCookies(t, res)
	for _, name := range []string{"gqlauth_refresh", "gqlauth_csrf"} {
		if c := cs[name]; c == nil || !c.Secure || c.SameSite != http.SameSiteStrictMode {
			t.Fatalf("production cookie %s: %+v", name, c)
		}
	}
}

// refreshAtOnce presents one refresh token n times at the same moment,
// each request on its own connection, and returns the n answers.
func refreshAtOnce(t *testing.T, srv *apptest.Server, token string, n int) []*apptest.Response {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]*apptest.Response, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = post(srv.URL(), "", refreshDoc, map[string]any{"t": token})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	return results
}
