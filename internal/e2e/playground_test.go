package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/gqlauth/gqlauth/ent/user"
	acct "github.com/gqlauth/gqlauth/internal/account"
	"github.com/gqlauth/gqlauth/internal/apptest"
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
	vars := map[string]any{"userId": "", "tokenId": "", "sessionId": ""}
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
	if _, err := srv.Accounts.AssignRole(context.Background(), acct.UserRef{Email: &out.User.Email}, user.RoleADMIN); err != nil {
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
	// A second device signs in; Sessions lists it, RevokeSession ends it.
	other := srv.Client().SignIn(t, "ada@example.com", "correct horse battery")
	var sessions []struct {
		ID      string
		Current bool
	}
	if err := json.Unmarshal(runPlaygroundOperation(t, c, doc, "Sessions", vars)["sessions"], &sessions); err != nil || len(sessions) != 3 {
		t.Fatalf("Sessions: %v, %+v", err, sessions)
	}
	vars["sessionId"] = sessionOf(t, other.AccessToken)
	runPlaygroundOperation(t, c, doc, "RevokeSession", vars)
	if code := meCode(t, srv, other.AccessToken); code != "UNAUTHENTICATED" {
		t.Fatalf("RevokeSession left the session working: %q", code)
	}
	runPlaygroundOperation(t, c, doc, "UpdateProfile", vars)
	// Refresh without $refreshToken: the cookie and the CSRF header.
	payload(runPlaygroundOperation(t, c, doc, "Refresh", vars), "refresh")
	runPlaygroundOperation(t, c, doc, "Revoke", vars)
	payload(runPlaygroundOperation(t, c, doc, "ChangePassword", vars), "changePassword")
	runPlaygroundOperation(t, c, doc, "SetUserRole", vars)

	// DeleteUser on a second account (the last admin cannot go).
	deleted := srv.Client().SignUp(t, apptest.UniqueEmail("deleted"), userPassword)
	vars["userId"] = deleted.User.ID
	runPlaygroundOperation(t, c, doc, "DeleteUser", vars)
	runPlaygroundOperation(t, c, doc, "Logout", vars)
	if res := c.Do(t, `{ me { id } }`, nil); res.Code() != "UNAUTHENTICATED" {
		t.Fatalf("after Logout: %s", res.Body)
	}
}

// playgroundPage drives the playground in Chromium the way a person
// does: clicks, keys and pastes. Its methods fail the test with what was
// being done.
type playgroundPage struct {
	t   *testing.T
	ctx context.Context
}

// openPlayground opens srv's playground in a fresh Chromium, which
// reaches no host but the test server (newBrowser), and records every
// Content-Security-Policy violation in window.cspViolations.
func openPlayground(t *testing.T, srv *apptest.Server, blocked ...string) *playgroundPage {
	t.Helper()
	ctx := newBrowser(t)
	p := &playgroundPage{t: t, ctx: ctx}
	step(t, ctx, "prepare the tab", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.cspViolations = []; document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`,
		}); err != nil {
			return err
		}
		if len(blocked) > 0 {
			if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			var patterns []*network.BlockPattern
			for _, b := range blocked {
				patterns = append(patterns, &network.BlockPattern{URLPattern: srv.HTTP.URL + b, Block: true})
			}
			if _, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: patterns}); err != nil {
				return err
			}
		}
		return nil
	}))
	step(t, ctx, "size the window", chromedp.EmulateViewport(1400, 1000))
	step(t, ctx, "open the playground", chromedp.Navigate(srv.HTTP.URL+"/"))
	return p
}

func (p *playgroundPage) eval(what, js string) string {
	p.t.Helper()
	return step(p.t, p.ctx, what, chromedp.Evaluate[string](js))
}

// wait polls a JavaScript expression until it is truthy and returns it.
func (p *playgroundPage) wait(what, js string) string {
	p.t.Helper()
	return step(p.t, p.ctx, what, chromedp.Poll[string](js, chromedp.WithPollingTimeout(20*time.Second)))
}

// clickAt clicks the middle of the element a JavaScript expression
// returns, after scrolling it into view.
func (p *playgroundPage) clickAt(what, element string) {
	p.t.Helper()
	var box struct{ X, Y float64 }
	raw := p.eval(what, `(() => { const e = `+element+`; e.scrollIntoView({block: 'center'});
		const r = e.getBoundingClientRect(); return JSON.stringify({x: r.x + Math.min(r.width / 2, 40), y: r.y + r.height / 2}); })()`)
	if err := json.Unmarshal([]byte(raw), &box); err != nil {
		p.t.Fatalf("%s: %s", what, raw)
	}
	step(p.t, p.ctx, what, chromedp.MouseClickXY(box.X, box.Y))
}

// codeMirror is the expression of the CodeMirror of the editor selector
// names (GraphiQL 4's editors are CodeMirror 5).
func codeMirror(selector string) string {
	return `document.querySelector('` + selector + ` .CodeMirror').CodeMirror`
}

const (
	queryEditor    = ".graphiql-query-editor"
	headersEditor  = ".graphiql-editor-tool .graphiql-editor:not(.hidden)"
	responseEditor = ".result-window"
)

// run presses GraphiQL's run button and picks the operation called name
// from the menu it shows for a document of several operations, then
// returns the response once it holds field.
func (p *playgroundPage) run(name, field string) map[string]any {
	p.t.Helper()
	p.clickAt("press run", `document.querySelector('.graphiql-execute-button')`)
	p.wait("the menu offers "+name, `(() => Array.from(document.querySelectorAll('[role=menuitem]')).some((m) => m.textContent === '`+name+`') && 'yes')()`)
	p.clickAt("pick "+name, `Array.from(document.querySelectorAll('[role=menuitem]')).find((m) => m.textContent === '`+name+`')`)
	raw := p.wait("the response of "+name, `(() => { const v = `+codeMirror(responseEditor)+`.getValue(); return v.includes('"`+field+`"') && v; })()`)
	var res map[string]any
	if err := json.Unmarshal([]byte(raw), &res); err != nil || res["errors"] != nil {
		p.t.Fatalf("%s answered %s", name, raw)
	}
	return res["data"].(map[string]any)[field].(map[string]any)
}

// TestPlaygroundInBrowser runs the real GraphiQL in Chromium, offline:
// every file it needs comes from gqlauth. As a new user would, it runs
// SignUp from the example document, pastes the access token into the
// Headers editor, runs Me, and opens the Docs panel on the schema.
func TestPlaygroundInBrowser(t *testing.T) {
	doc, err := os.ReadFile("../server/playground.graphql")
	if err != nil {
		t.Fatal(err)
	}
	srv := apptest.New(t, apptest.Backends[0], nil)
	p := openPlayground(t, srv)
	p.wait("GraphiQL starts", `document.querySelector('`+queryEditor+` .CodeMirror') && 'started'`)
	if got := p.eval("read the query editor", codeMirror(queryEditor)+`.getValue()`); got != string(doc) {
		t.Fatalf("the playground opens on a different document than playground.graphql:\n%s", got)
	}
	if got := p.eval("read the headers editor", codeMirror(headersEditor)+`.getValue()`); got != "{\n  \"Authorization\": \"Bearer \"\n}" {
		t.Fatalf("the Headers editor holds %q", got)
	}

	signUp := p.run("SignUp", "signUp")
	token, _ := signUp["accessToken"].(string)
	if token == "" {
		t.Fatalf("SignUp gave no access token: %v", signUp)
	}

	// Paste {"Authorization": "Bearer <token>"} over the Headers editor.
	p.clickAt("click into the Headers editor", `document.querySelector('`+headersEditor+` .CodeMirror-line')`)
	step(t, p.ctx, "select the headers", chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	step(t, p.ctx, "paste the token", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: `{"Authorization": "Bearer ` + token + `"}`})
		return err
	}))
	if got := p.eval("read the headers editor", codeMirror(headersEditor)+`.getValue()`); got != `{"Authorization": "Bearer `+token+`"}` {
		t.Fatalf("the Headers editor holds %q after the paste", got)
	}

	if me := p.run("Me", "me"); me["email"] != "ada@example.com" {
		t.Fatalf("Me answered %v", me)
	}

	// The Docs panel shows the schema (introspection within the limits):
	// the root types, then Query's fields.
	p.clickAt("open the Docs panel", `document.querySelector('button[aria-label="Show Documentation Explorer"]')`)
	p.wait("the Docs panel lists the root types", `(() => { const d = document.querySelector('.graphiql-doc-explorer'); return d && d.textContent.includes('Root Types') && d.textContent; })()`)
	p.clickAt("open Query", `Array.from(document.querySelectorAll('.graphiql-doc-explorer a.graphiql-doc-explorer-type-name')).find((a) => a.textContent === 'Query')`)
	fields := p.wait("Query's fields", `(() => { const f = Array.from(document.querySelectorAll('.graphiql-doc-explorer .graphiql-doc-explorer-field-name')).map((a) => a.textContent); return f.includes('me') && f.join(','); })()`)
	for _, want := range []string{"me", "users", "refreshTokens"} {
		if !strings.Contains(","+fields+",", ","+want+",") {
			t.Errorf("the Docs panel lists Query's fields %s, without %s", fields, want)
		}
	}
	if v := p.eval("read CSP violations", `window.cspViolations.join('; ')`); v != "" {
		t.Errorf("the page broke its Content-Security-Policy: %s", v)
	}
}

// TestPlaygroundSaysWhyGraphiQLDidNotLoad blocks GraphiQL's script, as a
// proxy or an extension might: the page must not stay at "Loading
// GraphiQL…" but say what did not load, and where the endpoint and the
// schema are.
func TestPlaygroundSaysWhyGraphiQLDidNotLoad(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	p := openPlayground(t, srv, "/playground/graphiql-*/graphiql.min.js")
	msg := p.wait("the page says why", `(() => { const a = document.querySelector('#graphiql [role=alert]'); return a && a.textContent; })()`)
	for _, want := range []string{"could not start", "GraphiQL did not load", "/graphql", "/schema.graphql"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message %q does not say %q", msg, want)
		}
	}
	if strings.Contains(p.eval("read the page", `document.body.textContent`), "Loading GraphiQL") {
		t.Error("the page still says Loading GraphiQL…")
	}
}
