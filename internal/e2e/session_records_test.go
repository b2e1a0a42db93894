package e2e

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

const (
	sessionsDoc      = `query($u: ID, $all: Boolean) { sessions(userId: $u, includeRevoked: $all) { id createdAt lastSeenAt expiresAt revokedAt revokedReason userAgent ip current active } }`
	revokeSessionDoc = `mutation($id: ID!) { revokeSession(id: $id) }`
)

// sessionRow is a Session as the sessions query returns it.
type sessionRow struct {
	ID            string
	CreatedAt     time.Time
	LastSeenAt    time.Time
	ExpiresAt     time.Time
	RevokedAt     *time.Time
	RevokedReason *string
	UserAgent     *string
	IP            *string
	Current       bool
	Active        bool
}

// listSessions runs sessions as c; userID "" leaves userId out.
func listSessions(t *testing.T, c *apptest.Client, userID string, all bool) []sessionRow {
	t.Helper()
	vars := map[string]any{"all": all}
	if userID != "" {
		vars["u"] = userID
	}
	var out struct{ Sessions []sessionRow }
	c.Do(t, sessionsDoc, vars).Decode(t, &out)
	return out.Sessions
}

// TestSessionsListAndRevokeByID: a user sees their own devices and ends
// one by id (its access token is refused at once, its refresh token
// stops); another user can neither see nor end them (the same NOT_FOUND
// as an unknown id); an admin can do both.
func TestSessionsListAndRevokeByID(t *testing.T) {
	apptest.ForEach(t, apptest.AllBackends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		email := apptest.UniqueEmail("devices")
		phone := srv.Client()
		phone.Header.Set("User-Agent", "phone/1.0")
		pp := phone.SignUp(t, email, password)
		laptop := srv.Client()
		laptop.Header.Set("User-Agent", "laptop/2.0")
		pl := laptop.SignIn(t, email, password)
		phone.Token, laptop.Token = pp.AccessToken, pl.AccessToken

		rows := listSessions(t, phone, "", false)
		if len(rows) != 2 {
			t.Fatalf("sessions = %+v, want 2", rows)
		}
		// Most recently seen first: the laptop signed in last.
		if rows[0].UserAgent == nil || *rows[0].UserAgent != "laptop/2.0" || rows[0].Current ||
			rows[1].UserAgent == nil || *rows[1].UserAgent != "phone/1.0" || !rows[1].Current {
			t.Fatalf("sessions as the phone sees them: %+v", rows)
		}
		for _, r := range rows {
			if !r.Active || r.RevokedAt != nil || r.IP == nil || !r.ExpiresAt.After(r.CreatedAt) {
				t.Fatalf("live session %+v", r)
			}
		}
		laptopID := rows[0].ID
		if got := dbToken(t, srv, *pl.RefreshToken).SessionID.String(); got != laptopID {
			t.Fatalf("laptop session id %s, its refresh token says %s", laptopID, got)
		}

		// Another user: FORBIDDEN to list, NOT_FOUND to end.
		eve := srv.Client()
		eve.Token = eve.SignUp(t, apptest.UniqueEmail("eve"), password).AccessToken
		wantCode(t, eve.Do(t, sessionsDoc, map[string]any{"u": pp.User.ID}), "FORBIDDEN")
		wantCode(t, eve.Do(t, revokeSessionDoc, map[string]any{"id": laptopID}), "NOT_FOUND")
		wantCode(t, eve.Do(t, revokeSessionDoc, map[string]any{"id": uuid.NewString()}), "NOT_FOUND")
		wantCode(t, srv.Client().Do(t, revokeSessionDoc, map[string]any{"id": laptopID}), "UNAUTHENTICATED")
		if code := meCode(t, srv, pl.AccessToken); code != "" {
			t.Fatalf("eve's attempts ended the laptop session: %s", code)
		}

		// The phone ends the laptop: at once, access and refresh.
		wantOK(t, phone.Do(t, revokeSessionDoc, map[string]any{"id": laptopID}))
		if code := meCode(t, srv, pl.AccessToken); code != "UNAUTHENTICATED" {
			t.Fatalf("ended session's access token: %q", code)
		}
		wantCode(t, refresh(t, srv.Client(), *pl.RefreshToken), "UNAUTHENTICATED")
		if code := meCode(t, srv, pp.AccessToken); code != "" {
			t.Fatalf("ending another session ended the caller's: %s", code)
		}
		wantCode(t, phone.Do(t, revokeSessionDoc, map[string]any{"id": laptopID}), "BAD_USER_INPUT")

		live := listSessions(t, phone, "", false)
		all := listSessions(t, phone, pp.User.ID, true)
		if len(live) != 1 || !live[0].Current || len(all) != 2 {
			t.Fatalf("after the revocation: live %+v, all %+v", live, all)
		}
		for _, r := range all {
			if r.ID == laptopID && (r.Active || r.RevokedAt == nil || r.RevokedReason == nil || *r.RevokedReason != "revoked") {
				t.Fatalf("ended session listed as %+v", r)
			}
		}

		// node(id) reaches a session, for its owner only.
		var n struct {
			Node struct{ Typename, ID string } `json:"node"`
		}
		phone.Do(t, `query($id: ID!) { node(id: $id) { typename: __typename id } }`, map[string]any{"id": laptopID}).Decode(t, &n)
		if n.Node.Typename != "Session" || n.Node.ID != laptopID {
			t.Fatalf("node(session id) = %+v", n.Node)
		}
		wantCode(t, eve.Do(t, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": laptopID}), "FORBIDDEN")

		// An admin sees and ends anyone's.
		admin := newAdmin(t, srv, "sessions-admin")
		if rows := listSessions(t, admin.Client, pp.User.ID, false); len(rows) != 1 || rows[0].Current {
			t.Fatalf("admin's view of the user's sessions: %+v", rows)
		}
		wantOK(t, admin.Do(t, revokeSessionDoc, map[string]any{"id": live[0].ID}))
		if code := meCode(t, srv, pp.AccessToken); code != "UNAUTHENTICATED" {
			t.Fatalf("session ended by an admin still works: %q", code)
		}

		// Ending one's own current session clears its cookies.
		c := srv.Client()
		p := c.SignIn(t, email, password)
		c.Token = p.AccessToken
		res := c.Do(t, revokeSessionDoc, map[string]any{"id": dbToken(t, srv, *p.RefreshToken).SessionID.String()})
		wantOK(t, res)
		if rc := setCookies(t, res)["gqlauth_refresh"]; rc == nil || rc.MaxAge >= 0 {
			t.Fatalf("ending the own session left the refresh cookie: %+v", rc)
		}
	})
}

// TestSessionIdleTimeout: a session that refreshes keeps going; one left
// alone longer than SESSION_IDLE_TIMEOUT cannot refresh any more, though
// its refresh token has not expired, and is no longer listed as live.
func TestSessionIdleTimeout(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"SESSION_IDLE_TIMEOUT": "2s"})
		c := srv.Client()
		email := apptest.UniqueEmail("idle")
		p := c.SignUp(t, email, password)
		// Used within the timeout, twice: each refresh resets it.
		time.Sleep(1200 * time.Millisecond)
		p = mustRefresh(t, srv.Client(), *p.RefreshToken)
		time.Sleep(1200 * time.Millisecond)
		p = mustRefresh(t, srv.Client(), *p.RefreshToken)

		time.Sleep(2200 * time.Millisecond)
		if rt := dbToken(t, srv, *p.RefreshToken); !time.Now().Before(rt.ExpiresAt) || rt.RevokedAt != nil {
			t.Fatalf("the token itself should still be valid: %+v", rt)
		}
		res := refresh(t, srv.Client(), *p.RefreshToken)
		wantCode(t, res, "UNAUTHENTICATED")
		if res.Errors[0].Message != "the session has been idle too long; sign in again" {
			t.Fatalf("idle session refused with %q", res.Errors[0].Message)
		}
		v := srv.Client()
		v.Token = v.SignIn(t, email, password).AccessToken
		live := listSessions(t, v, "", false)
		all := listSessions(t, v, "", true)
		if len(live) != 1 || !live[0].Current || len(all) != 2 {
			t.Fatalf("live %+v, all %+v: the idle session should be listed only with includeRevoked", live, all)
		}
	})
}
