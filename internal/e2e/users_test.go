package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	"github.com/gqlauth/gqlauth/ent/user"
	acct "github.com/gqlauth/gqlauth/internal/account"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/session"
)

const userPassword = "correct horse battery"

// account is a signed-in test user.
type account struct {
	*apptest.Client
	ID, Email string
	Refresh   string
}

// signUp creates an account through GraphQL and signs it in.
func signUp(t *testing.T, srv *apptest.Server, name string) *account {
	t.Helper()
	c := srv.Client()
	email := apptest.UniqueEmail(name)
	p := c.SignUp(t, email, userPassword)
	return &account{Client: c, ID: p.User.ID, Email: email, Refresh: *p.RefreshToken}
}

// newAdmin creates an account, makes it ADMIN the way the operator's
// command line does, and signs it in again: a role reaches the access
// token at the next sign-in or refresh.
func newAdmin(t *testing.T, srv *apptest.Server, name string) *account {
	t.Helper()
	a := signUp(t, srv, name)
	if _, err := srv.Accounts.AssignRole(context.Background(), acct.UserRef{Email: &a.Email}, user.RoleADMIN); err != nil {
		t.Fatalf("make %s admin: %v", name, err)
	}
	p := a.SignIn(t, a.Email, userPassword)
	if p.User.Role != "ADMIN" {
		t.Fatalf("%s signed in with role %s, want ADMIN", name, p.User.Role)
	}
	a.Refresh = *p.RefreshToken
	return a
}

// outcome is what one viewer should get from one query: an error code,
// a null result, or data that mentions every id in has.
type outcome struct {
	code string
	null bool
	has  []string
}

func ok(ids ...string) outcome { return outcome{has: ids} }
func denied(code string) outcome {
	return outcome{code: code}
}

var (
	unauthenticated = denied("UNAUTHENTICATED")
	forbidden       = denied("FORBIDDEN")
	isNull          = outcome{null: true}
)

// TestAuthorizationMatrix asks every query path that reaches a User or a
// RefreshToken as anonymous, as another user, as the user themself and as
// an admin, and checks who gets what. A schema introspection makes sure
// no such path is left out of the matrix.
func TestAuthorizationMatrix(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		alice := signUp(t, srv, "alice")
		bob := signUp(t, srv, "bob")
		admin := newAdmin(t, srv, "admin")
		anon := srv.Client()
		missing := "01a1ffff-0000-7000-8000-000000000000"

		type row struct {
			path  string // the root field the row covers
			query string
			vars  map[string]any
			// anonymous, another user (bob), the user themself (alice), an admin
			anon, other, self, admin outcome
		}
		aliceVars := map[string]any{"id": alice.ID}
		var toks struct{ RefreshTokens []struct{ ID string } }
		alice.Do(t, `query($id: ID!) { refreshTokens(userId: $id) { id } }`, aliceVars).Decode(t, &toks)
		tokenID := toks.RefreshTokens[0].ID
		tokenVars := map[string]any{"id": tokenID}
		rows := []row{
			{"me", `{ me { id email } }`, nil,
				unauthenticated, ok(bob.ID), ok(alice.ID), ok(admin.ID)},
			{"user", `query($id: ID!) { user(id: $id) { id email role } }`, aliceVars,
				unauthenticated, forbidden, ok(alice.ID), ok(alice.ID)},
			{"user", `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": missing},
				unauthenticated, forbidden, forbidden, isNull},
			{"users", `{ users { totalCount edges { node { id email } } } }`, nil,
				unauthenticated, forbidden, forbidden, ok(alice.ID, bob.ID, admin.ID)},
			{"node", `query($id: ID!) { node(id: $id) { id ... on User { email } } }`, aliceVars,
				unauthenticated, forbidden, ok(alice.ID), ok(alice.ID)},
			{"node", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": missing},
				unauthenticated, forbidden, forbidden, isNull},
			{"nodes", `query($id: ID!) { nodes(ids: [$id]) { id ... on User { email } } }`, aliceVars,
				unauthenticated, forbidden, ok(alice.ID), ok(alice.ID)},
			// RefreshToken is a Node: its owner and admins reach it by id.
			{"node", `query($id: ID!) { node(id: $id) { id ... on RefreshToken { sessionId active } } }`, tokenVars,
				unauthenticated, forbidden, ok(tokenID), ok(tokenID)},
			{"nodes", `query($id: ID!) { nodes(ids: [$id]) { __typename id } }`, tokenVars,
				unauthenticated, forbidden, ok(tokenID, "RefreshToken"), ok(tokenID, "RefreshToken")},
			{"refreshTokens", `query($id: ID!) { refreshTokens(userId: $id) { id sessionId active } }`, aliceVars,
				unauthenticated, forbidden, ok(), ok()},
			{"setUserRole", `mutation($id: ID!) { setUserRole(id: $id, role: USER) { id role } }`, aliceVars,
				unauthenticated, forbidden, forbidden, ok(alice.ID)},
			{"deleteUser", `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": admin.ID},
				unauthenticated, forbidden, forbidden, outcome{code: "BAD_USER_INPUT"}}, // the last ADMIN
			{"updateProfile", `mutation { updateProfile(input: {firstName: "Al"}) { id firstName } }`, nil,
				unauthenticated, ok(bob.ID), ok(alice.ID), ok(admin.ID)},
			{"changePassword", `mutation { changePassword(currentPassword: "wrong password", newPassword: "another password") { user { id } } }`, nil,
				denied("UNAUTHENTICATED"), denied("UNAUTHENTICATED"), denied("UNAUTHENTICATED"), denied("UNAUTHENTICATED")},
			{"signIn", `mutation($e: String!) { signIn(input: {email: $e, password: "` + userPassword + `"}) { user { id email } } }`,
				map[string]any{"e": alice.Email},
				ok(alice.ID), ok(alice.ID), ok(alice.ID), ok(alice.ID)},
			{"refresh", `mutation($r: String!) { refresh(refreshToken: $r) { refreshToken user { id email } } }`, nil,
				ok(alice.ID), ok(alice.ID), ok(alice.ID), ok(alice.ID)},
			{"signUp", `mutation($e: String!) { signUp(input: {email: $e, password: "` + userPassword + `"}) { user { id email } } }`, nil,
				ok(), ok(), ok(), ok()},
			// Second factors: only the caller's own session steps up or
			// re-authenticates; a wrong code or password changes nothing.
			{"verifyMfa", `mutation { verifyMfa(code: "aaaa-bbbb-cccc-dddd") { user { id } } }`, nil,
				unauthenticated, denied("BAD_USER_INPUT"), denied("BAD_USER_INPUT"), denied("BAD_USER_INPUT")},
			{"reauthenticate", `mutation { reauthenticate(password: "wrong password") { user { id } } }`, nil,
				unauthenticated, unauthenticated, unauthenticated, unauthenticated},
			// The email flows hand out a user only for a token or code of
			// the user's own mail (TestPasswordResetByLink, TestEmailChange);
			// a made-up one is refused for every viewer.
			{"resetPassword", `mutation { resetPassword(token: "made-up", newPassword: "a long new passphrase") { user { id email } } }`, nil,
				denied("BAD_USER_INPUT"), denied("BAD_USER_INPUT"), denied("BAD_USER_INPUT"), denied("BAD_USER_INPUT")},
			{"confirmEmailChange", `mutation { confirmEmailChange(token: "made-up") { id email } }`, nil,
				denied("BAD_USER_INPUT"), denied("BAD_USER_INPUT"), denied("BAD_USER_INPUT"), denied("BAD_USER_INPUT")},
			// A passkey signs in only the passkey's user, for an answer to a
			// live challenge (TestPasskeys, TestPasskeyRefusals); a made-up
			// one is refused for every viewer.
			{"finishPasskeySignIn", `mutation($id: ID!) { finishPasskeySignIn(challengeId: $id, credential: {id: "x"}) { user { id email } } }`, map[string]any{"id": missing},
				denied("BAD_USER_INPUT"), denied("BAD_USER_INPUT"), denied("BAD_USER_INPUT"), denied("BAD_USER_INPUT")},
		}
		viewers := []struct {
			name string
			c    *apptest.Client
			pick func(row) outcome
		}{
			{"anonymous", anon, func(r row) outcome { return r.anon }},
			{"another user", bob.Client, func(r row) outcome { return r.other }},
			{"the user", alice.Client, func(r row) outcome { return r.self }},
			{"admin", admin.Client, func(r row) outcome { return r.admin }},
		}
		covered := map[string]bool{}
		for _, r := range rows {
			covered[r.path] = true
			for _, v := range viewers {
				vars := r.vars
				switch r.path {
				case "refresh":
					// Each refresh rotates alice's token: use the newest.
					vars = map[string]any{"r": alice.Refresh}
				case "signUp":
					vars = map[string]any{"e": apptest.UniqueEmail("matrix")}
				}
				res := v.c.Do(t, r.query, vars)
				want := v.pick(r)
				what := fmt.Sprintf("%s as %s", r.path, v.name)
				if r.path == "refresh" && res.Code() == "" {
					alice.Refresh = refreshedToken(t, res)
				}
				checkOutcome(t, what, res, want)
			}
		}

		// Every root field whose result can hold a User or a RefreshToken
		// must be in the matrix.
		for _, f := range fieldsReaching(t, admin.Client, "User", "RefreshToken") {
			if !covered[f] {
				t.Errorf("%s can return a User or RefreshToken but is not in the authorization matrix: add a row", f)
			}
		}

		// A demoted admin loses admin powers at once, without a new token.
		admin2 := newAdmin(t, srv, "admin2")
		wantCode(t, admin2.Do(t, `{ users { totalCount } }`, nil), "")
		res := admin.Do(t, `mutation($id: ID!) { setUserRole(id: $id, role: USER) { role } }`, map[string]any{"id": admin2.ID})
		wantCode(t, res, "")
		wantCode(t, admin2.Do(t, `{ users { totalCount } }`, nil), "FORBIDDEN")
		wantCode(t, admin2.Do(t, `query($id: ID!) { user(id: $id) { id } }`, aliceVars), "FORBIDDEN")
		wantCode(t, admin2.Do(t, `query($id: ID!) { refreshTokens(userId: $id) { id } }`, aliceVars), "FORBIDDEN")
	})
}

// refreshedToken reads the new refresh token of a refresh response.
func refreshedToken(t *testing.T, res *apptest.Response) string {
	t.Helper()
	var out struct{ Refresh struct{ RefreshToken string } }
	if err := json.Unmarshal(res.Data, &out); err != nil {
		t.Fatal(err)
	}
	return out.Refresh.RefreshToken
}

// checkOutcome compares one response with what the matrix expects.
func checkOutcome(t *testing.T, what string, res *apptest.Response, want outcome) {
	t.Helper()
	switch {
	case want.code != "":
		if res.Code() != want.code {
			t.Errorf("%s: got %s (%s), want %s", what, res.Code(), res.Body, want.code)
		}
		if strings.Contains(string(res.Data), "@") {
			t.Errorf("%s: denied but data leaked: %s", what, res.Data)
		}
	case len(res.Errors) > 0:
		t.Errorf("%s: unexpected error %s", what, res.Body)
	case want.null:
		var data map[string]json.RawMessage
		_ = json.Unmarshal(res.Data, &data)
		for k, v := range data {
			if string(v) != "null" {
				t.Errorf("%s: %s = %s, want null", what, k, v)
			}
		}
	default:
		for _, id := range want.has {
			if !strings.Contains(string(res.Data), id) {
				t.Errorf("%s: data %s lacks %s", what, res.Data, id)
			}
		}
	}
}

// fieldsReaching lists the Query and Mutation fields whose result type
// is, or leads through fields, interfaces or unions to, one of the types.
func fieldsReaching(t *testing.T, c *apptest.Client, targets ...string) []string {
	t.Helper()
	const typeRef = `name kind ofType { name kind ofType { name kind ofType { name kind ofType { name kind } } } }`
	res := c.Do(t, `{ __schema { queryType { name } mutationType { name }
		types { name kind possibleTypes { name } fields { name type { `+typeRef+` } } } } }`, nil)
	type ref struct {
		Name   *string
		Kind   string
		OfType *ref
	}
	var out struct {
		Schema struct {
			QueryType, MutationType struct{ Name string }
			Types                   []struct {
				Name          string
				Kind          string
				PossibleTypes []struct{ Name string }
				Fields        []struct {
					Name string
					Type ref
				}
			}
		} `json:"__schema"`
	}
	res.Decode(t, &out)
	named := func(r ref) string {
		for r.Name == nil && r.OfType != nil {
			r = *r.OfType
		}
		if r.Name == nil {
			return ""
		}
		return *r.Name
	}
	next := map[string][]string{}
	for _, ty := range out.Schema.Types {
		for _, f := range ty.Fields {
			next[ty.Name] = append(next[ty.Name], named(f.Type))
		}
		for _, p := range ty.PossibleTypes {
			next[ty.Name] = append(next[ty.Name], p.Name)
		}
	}
	reaches := func(start string) bool {
		seen := map[string]bool{}
		queue := []string{start}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			if seen[n] {
				continue
			}
			seen[n] = true
			for _, target := range targets {
				if n == target {
					return true
				}
			}
			queue = append(queue, next[n]...)
		}
		return false
	}
	var fields []string
	for _, ty := range out.Schema.Types {
		if ty.Name != out.Schema.QueryType.Name && ty.Name != out.Schema.MutationType.Name {
			continue
		}
		for _, f := range ty.Fields {
			if reaches(named(f.Type)) {
				fields = append(fields, f.Name)
			}
		}
	}
	sort.Strings(fields)
	if len(fields) < 6 {
		t.Fatalf("introspection found only %v", fields)
	}
	return fields
}

// TestUpdateProfile checks validation (every bad field at once),
// CONFLICT on a taken email or username, and how fields are cleared.
func TestUpdateProfile(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		// updateProfile changes the email only with the email flows off
		// (with them on, requestEmailChange does: TestEmailChange).
		srv := apptest.New(t, b, map[string]string{"EMAIL_VERIFICATION": "off"})
		alice := signUp(t, srv, "alice")
		bob := signUp(t, srv, "bob")
		const update = `mutation($in: UpdateProfileInput!) { updateProfile(input: $in) { id email username firstName lastName age } }`
		type profile struct {
			ID, Email           string
			Username, FirstName *string
			LastName            *string
			Age                 *int
		}
		do := func(c *account, in map[string]any) (profile, *apptest.Response) {
			res := c.Do(t, update, map[string]any{"in": in})
			var out struct{ UpdateProfile profile }
			if len(res.Errors) == 0 {
				res.Decode(t, &out)
			}
			return out.UpdateProfile, res
		}

		_, res := do(alice, map[string]any{"email": "not-an-email", "username": "x", "age": 200, "firstName": strings.Repeat("f", 101), "lastName": strings.Repeat("l", 101)})
		wantCode(t, res, "BAD_USER_INPUT")
		fields, _ := res.Errors[0].Extensions["fields"].(map[string]any)
		for _, f := range []string{"email", "username", "age", "firstName", "lastName"} {
			if fields[f] == nil {
				t.Errorf("no error for %s in %s", f, res.Body)
			}
		}
		// Control characters are refused before any resolver runs, by the
		// input-hygiene check every string argument passes through.
		_, res = do(alice, map[string]any{"firstName": "bad\x00name"})
		wantCode(t, res, "BAD_USER_INPUT")
		if fields, _ := res.Errors[0].Extensions["fields"].(map[string]any); fields["firstName"] == nil {
			t.Errorf("control character: no error for firstName in %s", res.Body)
		}

		p, res := do(alice, map[string]any{"username": "Alice_1", "firstName": "  Alice ", "lastName": "Liddell", "age": 30})
		wantCode(t, res, "")
		if p.Username == nil || *p.Username != "Alice_1" || *p.FirstName != "Alice" || *p.Age != 30 || p.Email != alice.Email {
			t.Fatalf("after update: %+v", p)
		}
		// Left out: unchanged. null or "": cleared.
		p, res = do(alice, map[string]any{"firstName": nil, "lastName": "", "age": nil})
		wantCode(t, res, "")
		if p.FirstName != nil || p.LastName != nil || p.Age != nil || p.Username == nil || *p.Username != "Alice_1" {
			t.Fatalf("after clearing: %+v", p)
		}

		// Taken email, and a username taken in another case: CONFLICT.
		_, res = do(bob, map[string]any{"email": strings.ToUpper(alice.Email)})
		wantCode(t, res, "CONFLICT")
		_, res = do(bob, map[string]any{"username": "alice_1"})
		wantCode(t, res, "CONFLICT")

		// Email and username cannot both go; one can.
		_, res = do(bob, map[string]any{"email": nil})
		wantCode(t, res, "BAD_USER_INPUT")
		p, res = do(alice, map[string]any{"email": nil})
		wantCode(t, res, "")
		if p.Email != "" {
			t.Fatalf("email not cleared: %+v", p)
		}
		_, res = do(alice, map[string]any{"username": ""})
		wantCode(t, res, "BAD_USER_INPUT")
		// The freed email is free for others.
		_, res = do(bob, map[string]any{"email": alice.Email})
		wantCode(t, res, "")
		var me struct{ Me struct{ Email string } }
		bob.Do(t, `{ me { email } }`, nil).Decode(t, &me)
		if me.Me.Email != alice.Email {
			t.Fatalf("bob's email = %q", me.Me.Email)
		}
	})
}

// TestChangePassword checks that the current password is required, that
// every other session ends, and that the current one goes on.
func TestChangePassword(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		alice := signUp(t, srv, "alice")
		other := srv.Client()
		op := other.SignIn(t, alice.Email, userPassword)
		bystander := signUp(t, srv, "bob")

		const change = `mutation($cur: String!, $new: String!) { changePassword(currentPassword: $cur, newPassword: $new) { ` + apptest.PayloadFields + ` } }`
		wantCode(t, alice.Do(t, change, map[string]any{"cur": "wrong password", "new": "a new password"}), "UNAUTHENTICATED")
		wantCode(t, alice.Do(t, change, map[string]any{"cur": userPassword, "new": "short"}), "BAD_USER_INPUT")
		wantCode(t, alice.Do(t, change, map[string]any{"cur": userPassword, "new": userPassword}), "BAD_USER_INPUT")
		wantCode(t, srv.Client().Do(t, change, map[string]any{"cur": userPassword, "new": "a new password"}), "UNAUTHENTICATED")

		oldToken := alice.Token
		res := alice.Do(t, change, map[string]any{"cur": userPassword, "new": "a new password"})
		var out struct{ ChangePassword apptest.Payload }
		res.Decode(t, &out)
		p := out.ChangePassword
		if p.User.ID != alice.ID || p.AccessToken == "" || p.RefreshToken == nil {
			t.Fatalf("payload %+v", p)
		}
		alice.Token = p.AccessToken

		// The other session is over: access token denied, refresh refused.
		wantCode(t, other.Do(t, `{ me { id } }`, nil), "UNAUTHENTICATED")
		wantCode(t, other.Do(t, `mutation($r: String!) { refresh(refreshToken: $r) { accessToken } }`,
			map[string]any{"r": *op.RefreshToken}), "UNAUTHENTICATED")
		// The old access token of the current session is refused too.
		old := srv.Client()
		old.Token = oldToken
		wantCode(t, old.Do(t, `{ me { id } }`, nil), "UNAUTHENTICATED")
		// The current session goes on with the new tokens, in the same session.
		wantCode(t, alice.Do(t, `{ me { id } }`, nil), "")
		res = alice.Do(t, `mutation($r: String!) { refresh(refreshToken: $r) { accessToken } }`, map[string]any{"r": *p.RefreshToken})
		wantCode(t, res, "")
		// Its old refresh token no longer works.
		wantCode(t, srv.Client().Do(t, `mutation($r: String!) { refresh(refreshToken: $r) { accessToken } }`,
			map[string]any{"r": alice.Refresh}), "UNAUTHENTICATED")
		// The sessions say why they ended.
		var tokens struct {
			RefreshTokens []struct {
				SessionID     string
				RevokedReason *string
				Active        bool
			}
		}
		srv.Client().SignIn(t, alice.Email, "a new password")
		alice.Do(t, `query($id: ID!) { refreshTokens(userId: $id) { sessionId revokedReason active } }`,
			map[string]any{"id": alice.ID}).Decode(t, &tokens)
		reasons := map[string]int{}
		for _, rt := range tokens.RefreshTokens {
			if rt.RevokedReason != nil {
				reasons[*rt.RevokedReason]++
			}
		}
		if reasons[session.ReasonPasswordChanged] < 2 || reasons[session.ReasonReuseDetected] > 0 {
			t.Fatalf("revoked reasons %v", reasons)
		}
		// The old password no longer signs in; the new one does.
		res = srv.Client().Do(t, `mutation($e: String!) { signIn(input: {email: $e, password: "`+userPassword+`"}) { accessToken } }`,
			map[string]any{"e": alice.Email})
		wantCode(t, res, "UNAUTHENTICATED")
		// Other users are untouched.
		wantCode(t, bystander.Do(t, `{ me { id } }`, nil), "")
	})
}

// TestRolesAndDeletion covers setUserRole and deleteUser: who may, what
// happens to the tokens, and that the last ADMIN stays.
func TestRolesAndDeletion(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		admin := newAdmin(t, srv, "admin")
		alice := signUp(t, srv, "alice")
		bob := signUp(t, srv, "bob")
		const setRole = `mutation($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { id role } }`
		const del = `mutation($id: ID!) { deleteUser(id: $id) }`

		// The only admin can neither demote nor delete themself.
		wantCode(t, admin.Do(t, setRole, map[string]any{"id": admin.ID, "role": "USER"}), "BAD_USER_INPUT")
		wantCode(t, admin.Do(t, del, map[string]any{"id": admin.ID}), "BAD_USER_INPUT")
		wantCode(t, admin.Do(t, setRole, map[string]any{"id": "01a1ffff-0000-7000-8000-000000000000", "role": "USER"}), "NOT_FOUND")
		wantCode(t, admin.Do(t, setRole, map[string]any{"id": alice.ID, "role": "OWNER"}), "GRAPHQL_VALIDATION_FAILED")

		// A promotion reaches the user with their next access token.
		wantCode(t, admin.Do(t, setRole, map[string]any{"id": alice.ID, "role": "ADMIN"}), "")
		wantCode(t, alice.Do(t, `{ users { totalCount } }`, nil), "FORBIDDEN")
		var r struct{ Refresh apptest.Payload }
		alice.Do(t, `mutation($r: String!) { refresh(refreshToken: $r) { `+apptest.PayloadFields+` } }`,
			map[string]any{"r": alice.Refresh}).Decode(t, &r)
		alice.Token, alice.Refresh = r.Refresh.AccessToken, *r.Refresh.RefreshToken
		if r.Refresh.User.Role != "ADMIN" {
			t.Fatalf("role after refresh: %s", r.Refresh.User.Role)
		}
		wantCode(t, alice.Do(t, `{ users { totalCount } }`, nil), "")

		// Two admins demoting, then deleting, each other at once: exactly
		// one wins each time, and an admin always remains.
		winner := raceAdmins(t, srv, admin, alice, setRole, func(a *account) map[string]any {
			return map[string]any{"id": a.ID, "role": "USER"}
		})
		loser := alice
		if winner == alice {
			loser = admin
		}
		if _, err := srv.Accounts.AssignRole(context.Background(), acct.UserRef{Email: &loser.Email}, user.RoleADMIN); err != nil {
			t.Fatal(err)
		}
		winner = raceAdmins(t, srv, admin, alice, del, func(a *account) map[string]any {
			return map[string]any{"id": a.ID}
		})

		// A user may delete only themself; an admin anyone.
		wantCode(t, bob.Do(t, del, map[string]any{"id": winner.ID}), "FORBIDDEN")
		wantCode(t, winner.Do(t, del, map[string]any{"id": "01a1ffff-0000-7000-8000-000000000000"}), "NOT_FOUND")
		bob2 := srv.Client()
		bob2.SignIn(t, bob.Email, userPassword)
		wantCode(t, bob.Do(t, del, map[string]any{"id": bob.ID}), "")
		for _, c := range []*apptest.Client{bob.Client, bob2} {
			wantCode(t, c.Do(t, `{ me { id } }`, nil), "UNAUTHENTICATED")
		}
		wantCode(t, srv.Client().Do(t, `mutation($r: String!) { refresh(refreshToken: $r) { accessToken } }`,
			map[string]any{"r": bob.Refresh}), "UNAUTHENTICATED")
		left, err := srv.DB.RefreshToken.Query().Where(refreshtoken.UserID(uuid.MustParse(bob.ID))).Count(context.Background())
		if err != nil || left != 0 {
			t.Fatalf("bob's refresh tokens left: %d, %v", left, err)
		}
		var one struct{ User *struct{ ID string } }
		winner.Do(t, `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": bob.ID}).Decode(t, &one)
		if one.User != nil {
			t.Fatalf("deleted user still readable: %+v", one.User)
		}

		// An admin deletes another user, whose tokens die at once.
		carol := signUp(t, srv, "carol")
		wantCode(t, winner.Do(t, del, map[string]any{"id": carol.ID}), "")
		wantCode(t, carol.Do(t, `{ me { id } }`, nil), "UNAUTHENTICATED")
		wantCode(t, srv.Client().Do(t, `mutation($e: String!) { signIn(input: {email: $e, password: "`+userPassword+`"}) { accessToken } }`,
			map[string]any{"e": carol.Email}), "UNAUTHENTICATED")
	})
}

// raceAdmins has admins a and b send op against each other at the same
// moment, over several rounds (the loser is made ADMIN again after each
// but the last; its old access token says ADMIN, and the role check reads
// the database), and checks that exactly one of each pair wins. It
// returns the winner of the last round.
func raceAdmins(t *testing.T, srv *apptest.Server, a, b *account, op string, vars func(target *account) map[string]any) *account {
	t.Helper()
	const rounds = 8
	var winner *account
	for round := 0; round < rounds; round++ {
		pairs := [][2]*account{{a, b}, {b, a}}
		results := make([]*apptest.Response, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, pair := range pairs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = pair[0].Do(t, op, vars(pair[1]))
			}()
		}
		close(start)
		wg.Wait()
		n, err := srv.DB.User.Query().Where(user.RoleEQ(user.RoleADMIN)).Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		won := 0
		for i, res := range results {
			switch res.Code() {
			case "":
				won++
				winner = pairs[i][0]
			case "BAD_USER_INPUT", "FORBIDDEN", "UNAUTHENTICATED", "NOT_FOUND":
				// lost: the last ADMIN, or already demoted or deleted
			default:
				t.Fatalf("round %d: unexpected %s", round, res.Body)
			}
		}
		if won != 1 || n != 1 {
			t.Fatalf("round %d: %d of 2 won, %d admins left: %s | %s", round, won, n, results[0].Body, results[1].Body)
		}
		if round == rounds-1 || strings.Contains(op, "deleteUser") {
			return winner
		}
		loser := a
		if winner == a {
			loser = b
		}
		if _, err := srv.Accounts.AssignRole(context.Background(), acct.UserRef{Email: &loser.Email}, user.RoleADMIN); err != nil {
			t.Fatal(err)
		}
	}
	return winner
}
