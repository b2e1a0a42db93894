package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/auth"
)

// runPlaygroundOperation sends the whole playground document with
// operationName, the way GraphiQL does, and returns the operation's data
// (failing on any error).
func runPlaygroundOperation(t *testing.T, c *apptest.Client, doc, name string, vars map[string]any) map[string]json.RawMessage {
	t.Helper()
	if csrf := c.Cookie("gqlauth_csrf"); csrf != "" {
		c.Header.Set("X-CSRF-Token", csrf)
	}
	body, _ := json.Marshal(map[string]any{"query": doc, "operationName": name, "variables": vars})
	res := c.Post(t, "application/json", body)
	if res.Status != 200 || len(res.Errors) > 0 {
		t.Fatalf("%s: %d %s", name, res.Status, res.Body)
	}
	var data map[string]json.RawMessage
	res.Decode(t, &data)
	return data
}

// TestPlaygroundOperationsRunOverHTTP runs every operation of the
// playground's example document (internal/server/playground.graphql) as
// GraphiQL sends it: the whole document, with operationName and the
// Variables editor's JSON. The document holds four credential fields
// (signUp, signIn, refresh, changePassword) in four operations; each
// operation holds one, so each must run.
func TestPlaygroundOperationsRunOverHTTP(t *testing.T) {
	raw, err := os.ReadFile("../server/playground.graphql")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	srv := apptest.New(t, apptest.Backends[0], nil)
	c := srv.Client()
	vars := map[string]any{"userId": "", "tokenId": ""}
	var out struct {
		AccessToken string
		User        struct{ ID, Email string }
	}
	payload := func(data map[string]json.RawMessage, field string) {
		t.Helper()
		if err := json.Unmarshal(data[field], &out); err != nil || out.AccessToken == "" {
			t.Fatalf("%s: no access token in %s", field, data[field])
		}
		c.Token = out.AccessToken
	}

	payload(runPlaygroundOperation(t, c, doc, "SignUp", vars), "signUp")
	signUpSession := sessionOf(t, c.Token)
	vars["userId"] = out.User.ID
	// The admin operations need an ADMIN; the operator's command line
	// makes one, and the role reaches the token at the next sign-in.
	if _, err := srv.Auth.AssignRole(context.Background(), auth.UserRef{Email: &out.User.Email}, user.RoleADMIN); err != nil {
		t.Fatal(err)
	}
	payload(runPlaygroundOperation(t, c, doc, "SignIn", vars), "signIn")
	if me := runPlaygroundOperation(t, c, doc, "Me", vars); !strings.Contains(string(me["me"]), `"email":"ada@example.com"`) {
		t.Fatalf("Me: %s", me["me"])
	}
	runPlaygroundOperation(t, c, doc, "Users", vars)
	runPlaygroundOperation(t, c, doc, "User", vars)
	var tokens []struct{ ID, SessionID string }
	if err := json.Unmarshal(runPlaygroundOperation(t, c, doc, "RefreshTokens", vars)["refreshTokens"], &tokens); err != nil {
		t.Fatal(err)
	}
	for _, tk := range tokens {
		if tk.SessionID == signUpSession {
			vars["tokenId"] = tk.ID
		}
	}
	runPlaygroundOperation(t, c, doc, "UpdateProfile", vars)
	// Refresh without $refreshToken: the cookie and the CSRF header.
	payload(runPlaygroundOperation(t, c, doc, "Refresh", vars), "refresh")
	runPlaygroundOperation(t, c, doc, "Revoke", vars)
	payload(runPlaygroundOperation(t, c, doc, "ChangePassword", vars), "changePassword")
	runPlaygroundOperation(t, c, doc, "SetUserRole", vars)

	// DeleteUser on a second account (the last admin cannot go).
	other := srv.Client().SignUp(t, apptest.UniqueEmail("deleted"), userPassword)
	vars["userId"] = other.User.ID
	runPlaygroundOperation(t, c, doc, "DeleteUser", vars)
	runPlaygroundOperation(t, c, doc, "Logout", vars)
	if res := c.Do(t, `{ me { id } }`, nil); res.Code() != "UNAUTHENTICATED" {
		t.Fatalf("after Logout: %s", res.Body)
	}
}
