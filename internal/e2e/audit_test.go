package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/auditevent"
	"github.com/gqlauth/gqlauth/ent/hook"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/audit"
)

// auditRow is an AuditEvent as the GraphQL API returns it.
type auditRow struct {
	ID         string
	OccurredAt time.Time
	Type       string
	Actor      string
	UserID     *string
	SessionID  *string
	IP         *string
	UserAgent  *string
	RequestID  *string
	Details    map[string]any
}

type auditPage struct {
	Edges []struct {
		Cursor string
		Node   auditRow
	}
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	TotalCount int
}

const auditFields = `edges { cursor node { id occurredAt type actor userId sessionId ip userAgent requestId details } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }`

// auditEvents runs auditEvents as c with the arguments given.
func auditEvents(t *testing.T, c *apptest.Client, vars map[string]any) (auditPage, *apptest.Response) {
	t.Helper()
	res := c.Do(t, `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $where: AuditEventFilter) {
  auditEvents(first: $first, after: $after, last: $last, before: $before, where: $where) { `+auditFields+` totalCount } }`, vars)
	var out struct{ AuditEvents auditPage }
	if len(res.Errors) == 0 {
		res.Decode(t, &out)
	}
	return out.AuditEvents, res
}

// dbEvents are every audit event of the server, oldest first.
func dbEvents(t *testing.T, srv *apptest.Server) []*ent.AuditEvent {
	t.Helper()
	evs, err := srv.DB.AuditEvent.Query().Order(ent.Asc(auditevent.FieldID)).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// findEvent returns the events of type typ about user (uuid.Nil: any).
func findEvents(evs []*ent.AuditEvent, typ string, user uuid.UUID) []*ent.AuditEvent {
	var out []*ent.AuditEvent
	for _, e := range evs {
		if e.Type == typ && (user == uuid.Nil || (e.UserID != nil && *e.UserID == user)) {
			out = append(out, e)
		}
	}
	return out
}

// oneEvent fails unless exactly one event of typ about user exists, and
// returns it.
func oneEvent(t *testing.T, evs []*ent.AuditEvent, typ string, user uuid.UUID) *ent.AuditEvent {
	t.Helper()
	got := findEvents(evs, typ, user)
	if len(got) != 1 {
		t.Fatalf("%d %s events of %s, want 1: %s", len(got), typ, user, describeEvents(evs))
	}
	return got[0]
}

func describeEvents(evs []*ent.AuditEvent) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("\n  " + e.Type + " actor=" + e.Actor)
		if e.UserID != nil {
			b.WriteString(" user=" + e.UserID.String())
		}
		if len(e.Details) > 0 {
			d, _ := json.Marshal(e.Details)
			b.WriteString(" " + string(d))
		}
	}
	return b.String()
}

// TestAuditTrailFlows runs every flow gqlauth has and checks the event
// each one leaves: its type, actor, subject, session, request facts and
// details; then that no event, in any column, holds a secret the run
// used (passwords, access and refresh tokens, cookies).
func TestAuditTrailFlows(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"REFRESH_REUSE_GRACE": "0", "AUDIT_REFRESHES": "true",
			// updateProfile changes the email only with the email flows off.
			"EMAIL_VERIFICATION": "off"})
		ctx := context.Background()
		var secrets []string
		keep := func(p apptest.Payload) apptest.Payload {
			secrets = append(secrets, p.AccessToken)
			if p.RefreshToken != nil {
				secrets = append(secrets, *p.RefreshToken)
			}
			return p
		}
		const newPassword = "a brand new horse battery"
		const wrongPassword = "wrong horse battery!"
		secrets = append(secrets, password, newPassword, wrongPassword)

		email := apptest.UniqueEmail("alice")
		phone := srv.Client()
		phone.Header.Set("User-Agent", "phone/1.0")
		phone.Header.Set("X-Request-ID", "req-signup-1")
		p1 := keep(phone.SignUp(t, email, password))
		alice := uuid.MustParse(p1.User.ID)
		phone.Header.Del("X-Request-ID")

		// Failed sign-ins: a wrong password, an unknown account.
		stranger := srv.Client()
		for _, in := range []map[string]any{
			{"email": email, "password": wrongPassword},
			{"email": apptest.UniqueEmail("nobody"), "password": wrongPassword},
		} {
			wantCode(t, stranger.Do(t, `mutation($in: SignInInput!) { signIn(input: $in) { accessToken } }`, map[string]any{"in": in}), "UNAUTHENTICATED")
		}

		laptop := srv.Client()
		laptop.Header.Set("User-Agent", "laptop/2.0")
		p2 := keep(laptop.SignIn(t, email, password))
		p2b := keep(mustRefresh(t, laptop, *p2.RefreshToken))
		laptop.Token = p2b.AccessToken

		wantOK(t, phone.Do(t, `mutation { updateProfile(input: {firstName: "Alice", email: "`+strings.Replace(email, "alice", "alice2", 1)+`"}) { id } }`, nil))

		var changed struct{ ChangePassword apptest.Payload }
		phone.Do(t, `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { `+apptest.PayloadFields+` } }`,
			map[string]any{"c": password, "n": newPassword}).Decode(t, &changed)
		keep(changed.ChangePassword)
		phone.Token = changed.ChangePassword.AccessToken

		// A replayed refresh token (the laptop's first, rotated one).
		laptop2 := srv.Client()
		p3 := keep(laptop2.SignIn(t, strings.Replace(email, "alice", "alice2", 1), newPassword))
		p3b := keep(mustRefresh(t, laptop2, *p3.RefreshToken))
		_ = p3b
		wantCode(t, refresh(t, srv.Client(), *p3.RefreshToken), "UNAUTHENTICATED")

		admin := newAdmin(t, srv, "auditadmin")
		adminID := uuid.MustParse(admin.ID)
		wantOK(t, admin.Do(t, `mutation($id: ID!) { setUserRole(id: $id, role: ADMIN) { id } }`, map[string]any{"id": alice.String()}))
		wantOK(t, admin.Do(t, `mutation($id: ID!) { setUserRole(id: $id, role: USER) { id } }`, map[string]any{"id": alice.String()}))

		bob := srv.Client()
		pb := keep(bob.SignUp(t, apptest.UniqueEmail("bob"), password))
		bobID := uuid.MustParse(pb.User.ID)
		keep(srv.Client().SignIn(t, *pb.User.Email, password))
		wantOK(t, logout(t, bob, "GLOBAL", ""))

		wantOK(t, admin.Do(t, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": alice.String()}))

		evs := dbEvents(t, srv)
		t.Logf("%d events:%s", len(evs), describeEvents(evs))

		up := oneEvent(t, evs, audit.UserSignedUp, alice)
		if up.Actor != alice.String() || up.SessionID == nil || up.UserAgent == nil || *up.UserAgent != "phone/1.0" ||
			up.IP == nil || *up.IP != "127.0.0.1" || up.RequestID == nil || *up.RequestID != "req-signup-1" {
			t.Fatalf("signed_up event: %+v", up)
		}
		failed := findEvents(evs, audit.UserSignInFailed, uuid.Nil)
		if len(failed) != 2 || failed[0].UserID == nil || *failed[0].UserID != alice || failed[0].Details["reason"] != "wrong_password" ||
			failed[1].UserID != nil || failed[1].Details["reason"] != "unknown_account" || failed[1].Actor != audit.ActorSystem {
			t.Fatalf("sign_in_failed events:%s", describeEvents(failed))
		}
		in := findEvents(evs, audit.UserSignedIn, alice)
		if len(in) != 2 || in[0].UserAgent == nil || *in[0].UserAgent != "laptop/2.0" || in[0].SessionID == nil {
			t.Fatalf("signed_in events:%s", describeEvents(in))
		}
		if r := findEvents(evs, audit.SessionRefreshed, alice); len(r) != 2 || *r[0].SessionID != *in[0].SessionID {
			t.Fatalf("session.refreshed events (AUDIT_REFRESHES=true):%s", describeEvents(r))
		}
		prof := oneEvent(t, evs, audit.UserProfileUpdated, alice)
		if f, _ := prof.Details["fields"].([]any); len(f) != 2 || f[0] != "email" || f[1] != "firstName" {
			t.Fatalf("profile_updated details %v", prof.Details)
		}
		oneEvent(t, evs, audit.UserEmailChanged, alice)
		pw := oneEvent(t, evs, audit.UserPasswordChanged, alice)
		if pw.SessionID == nil || *pw.SessionID != *up.SessionID {
			t.Fatalf("password_changed should name the phone's session: %+v", pw)
		}
		var byPassword, byDeletion, reuse []*ent.AuditEvent
		for _, e := range findEvents(evs, audit.SessionRevoked, alice) {
			switch e.Details["reason"] {
			case "password_changed":
				byPassword = append(byPassword, e)
			case "user_deleted":
				byDeletion = append(byDeletion, e)
			}
		}
		reuse = findEvents(evs, audit.SessionReuseDetected, alice)
		if len(byPassword) != 1 || *byPassword[0].SessionID != *in[0].SessionID || byPassword[0].Actor != alice.String() {
			t.Fatalf("the password change should have revoked the laptop's session, by alice:%s", describeEvents(byPassword))
		}
		if len(reuse) != 1 || reuse[0].Actor != audit.ActorSystem || *reuse[0].SessionID != *in[1].SessionID {
			t.Fatalf("reuse_detected:%s", describeEvents(reuse))
		}
		// Left at deletion: the phone's session.
		if len(byDeletion) != 1 || byDeletion[0].Actor != adminID.String() || *byDeletion[0].SessionID != *up.SessionID {
			t.Fatalf("deleteUser should have revoked the phone's session, by the admin:%s", describeEvents(byDeletion))
		}
		roles := findEvents(evs, audit.UserRoleChanged, alice)
		if len(roles) != 2 || roles[0].Actor != adminID.String() || roles[0].Details["from"] != "USER" || roles[0].Details["to"] != "ADMIN" {
			t.Fatalf("role_changed:%s", describeEvents(roles))
		}
		if cli := oneEvent(t, evs, audit.UserRoleChanged, adminID); cli.Actor != audit.ActorCLI {
			t.Fatalf("the admin was made by AssignRole, the command line's path: actor %q", cli.Actor)
		}
		del := oneEvent(t, evs, audit.UserDeleted, alice)
		if del.Actor != adminID.String() {
			t.Fatalf("user.deleted actor %q, want the admin", del.Actor)
		}
		global := findEvents(evs, audit.SessionRevoked, bobID)
		if len(global) != 2 || global[0].Details["scope"] != "GLOBAL" || global[0].Details["reason"] != "logout" || global[0].Actor != bobID.String() {
			t.Fatalf("bob's global logout:%s", describeEvents(global))
		}
		// The trail outlives the account.
		if n, _ := srv.DB.User.Query().Count(ctx); n != 2 {
			t.Fatalf("%d users left, want 2", n)
		}

		// No secret anywhere in the trail.
		for _, c := range []*apptest.Client{phone, laptop, bob} {
			for _, name := range []string{srv.Config.RefreshCookieName, "gqlauth_csrf"} {
				if v := c.Cookie(name); v != "" {
					secrets = append(secrets, v)
				}
			}
		}
		dump, _ := json.Marshal(evs)
		for _, s := range secrets {
			if s != "" && strings.Contains(string(dump), s) {
				t.Fatalf("the audit trail holds a secret (%.12s…)", s)
			}
		}
		users, _ := srv.DB.User.Query().All(ctx)
		for _, u := range users {
			if strings.Contains(string(dump), u.PasswordHash) {
				t.Fatal("the audit trail holds a password hash")
			}
		}
	})
}

// TestAuditEventCommitsWithItsChange: when the event cannot be written,
// the change it records does not happen either (the revocation rolls
// back: the session lives on), and a revocation that fails leaves no
// event. Without the fault both commit.
func TestAuditEventCommitsWithItsChange(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		var fail atomic.Bool
		srv.DB.AuditEvent.Use(func(next ent.Mutator) ent.Mutator {
			return hook.AuditEventFunc(func(ctx context.Context, m *ent.AuditEventMutation) (ent.Value, error) {
				if fail.Load() {
					return nil, errors.New("injected audit failure")
				}
				return next.Mutate(ctx, m)
			})
		})
		c := srv.Client()
		p := c.SignUp(t, apptest.UniqueEmail("atomic"), password)
		sid := dbToken(t, srv, *p.RefreshToken).SessionID

		fail.Store(true)
		res := c.Do(t, revokeSessionDoc, map[string]any{"id": sid.String()})
		wantCode(t, res, "INTERNAL_SERVER_ERROR")
		fail.Store(false)
		if code := meCode(t, srv, p.AccessToken); code != "" && b.Redis {
			// The deny list (Redis) was written before the failed commit;
			// the row is not revoked, which is what a retry finds.
			t.Logf("access token after the rolled-back revocation: %s", code)
		}
		sess, err := srv.DB.Session.Get(context.Background(), sid)
		if err != nil || sess.RevokedAt != nil {
			t.Fatalf("the session was revoked although its event failed: %+v %v", sess, err)
		}
		if got := findEvents(dbEvents(t, srv), audit.SessionRevoked, uuid.Nil); len(got) != 0 {
			t.Fatalf("events of a rolled-back revocation:%s", describeEvents(got))
		}
		// Refresh still works: nothing was revoked.
		mustRefresh(t, srv.Client(), *p.RefreshToken)

		wantOK(t, logout(t, srv.Client(), "", *mustRefresh(t, srv.Client(), *p.RefreshToken).RefreshToken))
		if got := findEvents(dbEvents(t, srv), audit.SessionRevoked, uuid.Nil); len(got) != 1 || *got[0].SessionID != sid {
			t.Fatalf("after a logout:%s", describeEvents(got))
		}
	})
}

// TestAuditRetention: housekeeping deletes the events older than
// AUDIT_RETENTION and keeps the others.
func TestAuditRetention(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"AUDIT_RETENTION": "30d"})
		ctx := context.Background()
		c := srv.Client()
		c.SignUp(t, apptest.UniqueEmail("old"), password)
		old := time.Now().Add(-31 * 24 * time.Hour)
		for i := 0; i < 3; i++ {
			srv.DB.AuditEvent.Create().SetOccurredAt(old).SetType(audit.UserSignedIn).SetActor(audit.ActorSystem).ExecX(ctx)
		}
		if n := len(dbEvents(t, srv)); n != 4 {
			t.Fatalf("%d events before housekeeping, want 4", n)
		}
		srv.DeleteOldEvents(ctx)
		evs := dbEvents(t, srv)
		if len(evs) != 1 || evs[0].Type != audit.UserSignedUp {
			t.Fatalf("after housekeeping:%s", describeEvents(evs))
		}
	})
}

// TestAuditEventsQuery: ADMIN only; filters by user, types and time;
// keyset pages forward and backward, newest first, that together list
// every event once; no COUNT unless totalCount is selected.
func TestAuditEventsQuery(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		counter := &sqlCounter{}
		srv := apptest.Start(t, apptest.Config(t, b, nil), ent.Debug(), ent.Log(counter.record))
		admin := newAdmin(t, srv, "pager")
		c := srv.Client()
		p := c.SignUp(t, apptest.UniqueEmail("paged"), password)
		for i := 0; i < 6; i++ {
			c.SignIn(t, *p.User.Email, password)
		}
		user := srv.Client()
		user.Token = p.AccessToken
		_, res := auditEvents(t, user, nil)
		wantCode(t, res, "FORBIDDEN")

		all := dbEvents(t, srv)
		var want []string // newest first
		for i := len(all) - 1; i >= 0; i-- {
			want = append(want, all[i].ID.String())
		}
		var got []string
		var after any
		for {
			pg, _ := auditEvents(t, admin.Client, map[string]any{"first": 3, "after": after})
			for _, e := range pg.Edges {
				got = append(got, e.Node.ID)
			}
			if !pg.PageInfo.HasNextPage {
				break
			}
			after = *pg.PageInfo.EndCursor
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paging forward: %v, want %v", got, want)
		}
		// Backward from the end: the two newest events before the oldest.
		oldest := want[len(want)-1]
		var back struct{ AuditEvents auditPage }
		admin.Do(t, `query($b: Cursor) { auditEvents(last: 2, before: $b) { `+auditFields+` } }`,
			map[string]any{"b": cursorOf(t, admin.Client, oldest)}).Decode(t, &back)
		if len(back.AuditEvents.Edges) != 2 || back.AuditEvents.Edges[0].Node.ID != want[len(want)-3] ||
			back.AuditEvents.Edges[1].Node.ID != want[len(want)-2] || !back.AuditEvents.PageInfo.HasPreviousPage {
			t.Fatalf("last 2 before the oldest: %+v", back.AuditEvents)
		}

		// Filters.
		pg, _ := auditEvents(t, admin.Client, map[string]any{"first": 100, "where": map[string]any{"userId": p.User.ID, "types": []string{audit.UserSignedIn}}})
		if pg.TotalCount != 6 || len(pg.Edges) != 6 {
			t.Fatalf("alice's sign-ins: %d of %d", len(pg.Edges), pg.TotalCount)
		}
		for _, e := range pg.Edges {
			if e.Node.Type != audit.UserSignedIn || *e.Node.UserID != p.User.ID {
				t.Fatalf("filtered event %+v", e.Node)
			}
		}
		future := time.Now().Add(time.Hour).Format(time.RFC3339)
		if pg, _ := auditEvents(t, admin.Client, map[string]any{"where": map[string]any{"from": future}}); len(pg.Edges) != 0 {
			t.Fatalf("events from the future: %d", len(pg.Edges))
		}
		if pg, _ := auditEvents(t, admin.Client, map[string]any{"where": map[string]any{"to": future}}); len(pg.Edges) != len(all) || pg.PageInfo.HasNextPage {
			t.Fatalf("events before an hour from now: %d, want all %d on the default page", len(pg.Edges), len(all))
		}
		_, res = auditEvents(t, admin.Client, map[string]any{"where": map[string]any{"types": []string{"no.such_type"}}})
		wantCode(t, res, "BAD_USER_INPUT")
		_, res = auditEvents(t, admin.Client, map[string]any{"first": 101})
		wantCode(t, res, "BAD_USER_INPUT")

		// COUNT only with totalCount.
		for _, tc := range []struct {
			doc   string
			count bool
		}{
			{`query { auditEvents(first: 2) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`, false},
			{`query { auditEvents(first: 2) { totalCount edges { node { id } } } }`, true},
		} {
			_, stmts := counter.during(func() { wantOK(t, admin.Do(t, tc.doc, nil)) })
			counted := false
			for _, s := range stmts {
				if strings.Contains(strings.ToUpper(s), "COUNT(") && strings.Contains(s, "audit_events") {
					counted = true
				}
			}
			if counted != tc.count {
				t.Fatalf("%s: COUNT ran = %v, want %v:\n%s", tc.doc, counted, tc.count, strings.Join(stmts, "\n"))
			}
		}
	})
}

// cursorOf finds the cursor of the event id by paging the whole trail.
func cursorOf(t *testing.T, c *apptest.Client, id string) string {
	t.Helper()
	pg, _ := auditEvents(t, c, map[string]any{"first": 100})
	for _, e := range pg.Edges {
		if e.Node.ID == id {
			return e.Cursor
		}
	}
	t.Fatalf("no event %s", id)
	return ""
}

// TestSecurityActivity: a user sees their own sign-ins, failures and
// ended sessions, never another user's, and no refreshes.
func TestSecurityActivity(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"AUDIT_REFRESHES": "true"})
		alice := srv.Client()
		pa := alice.SignUp(t, apptest.UniqueEmail("alice"), password)
		mallory := srv.Client()
		pm := mallory.SignUp(t, apptest.UniqueEmail("mallory"), password)
		wantCode(t, srv.Client().Do(t, `mutation($in: SignInInput!) { signIn(input: $in) { accessToken } }`,
			map[string]any{"in": map[string]any{"email": *pa.User.Email, "password": "not the password"}}), "UNAUTHENTICATED")
		other := srv.Client()
		po := other.SignIn(t, *pa.User.Email, password)
		mustRefresh(t, other, *po.RefreshToken)
		wantOK(t, logout(t, alice, "OTHERS", ""))
		mallory.SignIn(t, *pm.User.Email, password)

		var out struct {
			SecurityActivity auditPage
		}
		alice.Do(t, `query { securityActivity(first: 50) { `+auditFields+` } }`, nil).Decode(t, &out)
		var types []string
		for _, e := range out.SecurityActivity.Edges {
			if e.Node.UserID == nil || *e.Node.UserID != pa.User.ID {
				t.Fatalf("alice sees an event of someone else: %+v", e.Node)
			}
			types = append(types, e.Node.Type)
		}
		want := []string{audit.SessionRevoked, audit.UserSignedIn, audit.UserSignInFailed, audit.UserSignedUp}
		if !slices.Equal(types, want) {
			t.Fatalf("alice's activity %v, want %v", types, want)
		}
		wantCode(t, srv.Client().Do(t, `query { securityActivity { edges { node { id } } } }`, nil), "UNAUTHENTICATED")
	})
}
