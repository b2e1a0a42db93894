package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apptest"
)

// TestPasskeysInBrowser drives examples/spa in headless Chromium with a
// virtual authenticator (the CDP WebAuthn domain: CTAP2, internal
// transport, resident keys, user verification), on each backend (the
// challenges live in the database, or in Redis).
//
// A: sign up with a password, add a passkey, sign out, sign in with the
// passkey and no password (a discoverable credential): an AAL2 session
// whose amr names the passkey, in the database and in the access token.
// B: sign in with the password (AAL1, a step-up due), use the passkey as
// the second factor: the same session is now AAL2. B runs with the
// browser's WebAuthn JSON helpers removed, so the app's own base64url
// conversions carry the sign-in; C adds a passkey of a second user the
// same way. Last, the passkey is removed from the factor list.
func TestPasskeysInBrowser(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		// WebAuthn binds a credential to the page's origin: Chromium opens
		// http://localhost:PORT (a secure context), and the server's RP id
		// and origins say so.
		ln, port := apptest.Listen(t)
		origin := "http://localhost:" + port
		srv := apptest.StartOn(t, ln, apptest.Config(t, b, map[string]string{
			"EXAMPLES_ENABLED": "true",
			"WEBAUTHN_RP_ID":   "localhost",
			"WEBAUTHN_ORIGINS": origin,
		}))
		ctx := newBrowser(t)
		p := &passkeyPage{t: t, ctx: ctx, srv: srv, bodies: map[network.RequestID]string{}}
		p.listen()
		addAuthenticator(t, ctx)

		email := apptest.UniqueEmail("passkey")
		const password = "correct horse battery"
		step(t, ctx, "open the app", chromedp.Navigate(origin+"/examples/spa/"))
		p.waitState("signed-out")

		// A: sign up, add a passkey.
		step(t, ctx, "sign up", chromedp.Steps(
			chromedp.SendKeys(chromedp.ID("signup-email"), email),
			chromedp.SendKeys(chromedp.ID("signup-password"), password),
			chromedp.Click(chromedp.CSS("#signup-form button[type=submit]")),
		))
		p.waitState("signed-in")
		p.addPasskey("Test laptop")
		if got := p.eval("read the factor list", `document.getElementById("factors").textContent`); !strings.Contains(got, "Passkey: Test laptop") {
			t.Fatalf("the factor list shows %q, want the new passkey", got)
		}
		// A passkey as the first factor comes without recovery codes: the
		// app asks for them.
		step(t, ctx, "ask for recovery codes", chromedp.Steps(
			chromedp.Click(chromedp.ID("recovery-button")),
			chromedp.Poll[chromedp.Void](`!document.getElementById("recovery").hidden || document.getElementById("error").textContent !== ""`),
		))
		if codes := strings.Fields(p.eval("read the recovery codes", `document.getElementById("recovery-codes").textContent`)); len(codes) != 10 {
			t.Fatalf("the app showed %d recovery codes, want 10 (error: %q)", len(codes), p.eval("read #error", `document.getElementById("error").textContent`))
		}

		// Sign out, then sign in with the passkey alone: nothing typed.
		step(t, ctx, "log out", chromedp.Click(chromedp.ID("logout-button")))
		p.waitState("signed-out")
		step(t, ctx, "sign in with a passkey", chromedp.Steps(
			chromedp.Evaluate[chromedp.Void](`for (const id of ["signin-email", "signin-password"]) document.getElementById(id).value = ""`),
			chromedp.Click(chromedp.ID("passkey-signin-button")),
		))
		p.waitState("signed-in")
		if got := p.eval("read the status", `document.getElementById("status").textContent`); !strings.Contains(got, email) {
			t.Fatalf("after the passkey sign-in the status is %q, want signed in as %s", got, email)
		}
		signedIn := p.payload("FinishPasskeySignIn")
		_, amr := p.wantAAL2(signedIn)
		// The virtual authenticator's passkeys are not backup eligible: hwk.
		if !slices.Equal(amr, []string{"hwk", "user"}) {
			t.Errorf("a passkey sign-in without a password has amr %v, want [hwk user]", amr)
		}
		if n := p.userOf(signedIn).QuerySessions().CountX(context.Background()); n != 2 {
			t.Errorf("the user has %d sessions, want 2 (sign-up, passkey sign-in)", n)
		}

		// B: a password sign-in owes the second factor; the passkey pays
		// it, with the app's own conversions (the browser's JSON helpers
		// removed).
		step(t, ctx, "log out and sign in with the password", chromedp.Steps(
			chromedp.Click(chromedp.ID("logout-button")),
			chromedp.Poll[chromedp.Void](`document.body.dataset.state === "signed-out"`),
			chromedp.SendKeys(chromedp.ID("signin-email"), email),
			chromedp.SendKeys(chromedp.ID("signin-password"), password),
			chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")),
		))
		p.waitState("mfa")
		aal1 := p.payload("SignIn")
		if aal1.AAL != "AAL1" {
			t.Fatalf("the password sign-in answered aal %s, want AAL1 (a step-up due)", aal1.AAL)
		}
		aal1Session := sessionOf(t, aal1.AccessToken)
		if hidden := p.eval("read the passkey button", `String(document.getElementById("mfa-passkey").hidden)`); hidden != "false" {
			t.Fatal("the second-factor step does not offer the passkey")
		}
		p.withoutJSONHelpers()
		step(t, ctx, "use the passkey as the second factor", chromedp.Click(chromedp.ID("mfa-passkey-button")))
		p.waitState("signed-in")
		stepped := p.payload("FinishPasskeySignIn")
		sid, amr := p.wantAAL2(stepped)
		if sid != aal1Session {
			t.Errorf("the step-up moved to session %s, want the password sign-in's %s", sid, aal1Session)
		}
		for _, m := range []string{"pwd", "hwk", "user", "mfa"} {
			if !slices.Contains(amr, m) {
				t.Errorf("a password sign-in stepped up with a passkey has amr %v, want %s among them", amr, m)
			}
		}
		if got := p.eval("read #aal", `document.getElementById("aal").textContent`); !strings.Contains(got, "AAL2") {
			t.Errorf("after the step-up the app says %q, want AAL2", got)
		}

		// Remove the passkey from the factor list.
		step(t, ctx, "remove the passkey", chromedp.Steps(
			chromedp.Poll[chromedp.Void](`document.querySelector("#factors button") !== null`),
			chromedp.Click(chromedp.CSS("#factors button")),
			chromedp.Poll[chromedp.Void](`document.getElementById("factors").children.length === 0`),
		))
		if n := p.userOf(signedIn).QueryFactors().CountX(context.Background()); n != 0 {
			t.Errorf("%d factors left after removing the passkey", n)
		}

		// C: another user adds a passkey with the app's own conversions.
		step(t, ctx, "log out", chromedp.Click(chromedp.ID("logout-button")))
		p.waitState("signed-out")
		step(t, ctx, "sign up a second user", chromedp.Steps(
			chromedp.Evaluate[chromedp.Void](`for (const id of ["signup-email", "signup-password"]) document.getElementById(id).value = ""`),
			chromedp.SendKeys(chromedp.ID("signup-email"), apptest.UniqueEmail("passkey2")),
			chromedp.SendKeys(chromedp.ID("signup-password"), password),
			chromedp.Click(chromedp.CSS("#signup-form button[type=submit]")),
		))
		p.waitState("signed-in")
		p.withoutJSONHelpers()
		p.addPasskey("")
		if got := p.eval("read the factor list", `document.getElementById("factors").textContent`); !strings.Contains(got, "Passkey") {
			t.Fatalf("the factor list shows %q, want the second user's passkey", got)
		}

		p.noErrors()
	})
}

// addAuthenticator gives the tab a virtual platform authenticator that
// keeps discoverable credentials and verifies its user (as a fingerprint
// reader would), answering at once.
func addAuthenticator(t *testing.T, ctx context.Context) {
	t.Helper()
	step(t, ctx, "add a virtual authenticator", func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Transport:                   webauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
		return chromedp.Void{}, err
	})
}

// passkeyPage is the app in the browser, with what the test reads from
// it: the GraphQL answers the page received (through the CDP network
// domain: the app keeps its access token in memory only) and uncaught
// exceptions.
type passkeyPage struct {
	t   *testing.T
	ctx context.Context
	srv *apptest.Server

	mu       sync.Mutex
	bodies   map[network.RequestID]string // request → the GraphQL body it sent
	order    []network.RequestID
	jsErrors []string
}

func (p *passkeyPage) listen() {
	requests := chromedp.Events(p.ctx, network.RequestWillBeSent)
	go func() { // ends when the browser closes
		for ev, err := range requests {
			if err != nil {
				return
			}
			if !strings.HasSuffix(ev.Request.URL, "/graphql") {
				continue
			}
			var body strings.Builder
			for _, e := range ev.Request.PostDataEntries {
				body.Write(e.Bytes)
			}
			p.mu.Lock()
			p.bodies[ev.RequestID] = body.String()
			p.order = append(p.order, ev.RequestID)
			p.mu.Unlock()
		}
	}()
	exceptions := chromedp.Events(p.ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.jsErrors = append(p.jsErrors, (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
			p.mu.Unlock()
		}
	}()
}

func (p *passkeyPage) waitState(state string) {
	p.t.Helper()
	step(p.t, p.ctx, "wait for the app to be "+state, chromedp.Poll[chromedp.Void](
		`document.body.dataset.state === "`+state+`" || document.getElementById("error").textContent !== ""`))
	if msg := p.eval("read #error", `document.getElementById("error").textContent`); msg != "" {
		p.t.Fatalf("waiting for %s, the app showed an error: %s", state, msg)
	}
}

func (p *passkeyPage) eval(what, js string) string {
	p.t.Helper()
	return step(p.t, p.ctx, what, chromedp.Evaluate[string](js))
}

// addPasskey fills in the passkey form and waits for the factor list to
// show one more passkey.
func (p *passkeyPage) addPasskey(name string) {
	p.t.Helper()
	const count = `document.querySelectorAll("#factors li").length`
	before := p.eval("count the factors", `String(`+count+`)`)
	step(p.t, p.ctx, "add a passkey", chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`document.getElementById("passkey-name").value = `+jsString(name)),
		chromedp.Click(chromedp.CSS("#passkey-form button[type=submit]")),
		chromedp.Poll[chromedp.Void](`String(`+count+`) !== "`+before+`" || document.getElementById("error").textContent !== ""`),
	))
	if msg := p.eval("read #error", `document.getElementById("error").textContent`); msg != "" {
		p.t.Fatalf("adding a passkey, the app showed an error: %s", msg)
	}
}

// withoutJSONHelpers removes WebAuthn's JSON helpers from the page (as in
// a browser that lacks them) until the next page load.
func (p *passkeyPage) withoutJSONHelpers() {
	p.t.Helper()
	step(p.t, p.ctx, "remove the WebAuthn JSON helpers", chromedp.Evaluate[chromedp.Void](`
		delete PublicKeyCredential.parseCreationOptionsFromJSON;
		delete PublicKeyCredential.parseRequestOptionsFromJSON;
		delete PublicKeyCredential.prototype.toJSON;
		if (PublicKeyCredential.parseRequestOptionsFromJSON || PublicKeyCredential.prototype.toJSON) throw new Error("still there");`))
}

// passkeyPayload is the AuthPayload fields the app selects that the test reads.
type passkeyPayload struct {
	AccessToken string `json:"accessToken"`
	AAL         string `json:"aal"`
	User        struct {
		ID string `json:"id"`
	} `json:"user"`
}

// payload is the AuthPayload of the page's last operation named op, read
// from the response the browser received.
func (p *passkeyPage) payload(op string) passkeyPayload {
	p.t.Helper()
	p.mu.Lock()
	var id network.RequestID
	for _, r := range slices.Backward(p.order) {
		if strings.Contains(p.bodies[r], "mutation "+op+"(") || strings.Contains(p.bodies[r], "mutation "+op+" ") {
			id = r
			break
		}
	}
	p.mu.Unlock()
	if id == "" {
		p.t.Fatalf("the page sent no %s", op)
	}
	res := step(p.t, p.ctx, "read the answer to "+op, func(ctx context.Context, _ *chromedp.Target) (network.GetResponseBodyResult, error) {
		return chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
	})
	var body struct {
		Data map[string]passkeyPayload `json:"data"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil {
		p.t.Fatalf("the answer to %s: %v: %s", op, err, res.Body)
	}
	for _, v := range body.Data {
		if v.AccessToken != "" {
			return v
		}
	}
	p.t.Fatalf("the answer to %s has no payload: %s", op, res.Body)
	return passkeyPayload{}
}

// wantAAL2 checks that the payload's session is AAL2 in the answer, in
// its access token and in the database, with the same amr in both and a
// passkey among them; it returns the session id and the amr.
func (p *passkeyPage) wantAAL2(pl passkeyPayload) (string, []string) {
	p.t.Helper()
	cl := claims(p.t, pl.AccessToken)
	var amr []string
	for _, v := range cl["amr"].([]any) {
		amr = append(amr, v.(string))
	}
	if pl.AAL != "AAL2" || cl["aal"] != "aal2" {
		p.t.Errorf("answer aal %s, token aal %v: want AAL2", pl.AAL, cl["aal"])
	}
	if !slices.Contains(amr, "hwk") && !slices.Contains(amr, "swk") {
		p.t.Errorf("token amr %v names no key (hwk or swk)", amr)
	}
	sid, _ := cl["sid"].(string)
	s, err := p.srv.DB.Client.Session.Get(context.Background(), uuid.MustParse(sid))
	if err != nil {
		p.t.Fatalf("the token's session %s: %v", sid, err)
	}
	if s.Aal != 2 || !slices.Equal(s.Amr, amr) {
		p.t.Errorf("sessions row: aal %d amr %v, want aal 2 and the token's amr %v", s.Aal, s.Amr, amr)
	}
	return sid, amr
}

// userOf reads the payload's user from the database.
func (p *passkeyPage) userOf(pl passkeyPayload) *ent.User {
	p.t.Helper()
	u, err := p.srv.DB.Client.User.Get(context.Background(), uuid.MustParse(pl.User.ID))
	if err != nil {
		p.t.Fatal(err)
	}
	return u
}

func (p *passkeyPage) noErrors() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.jsErrors {
		p.t.Errorf("uncaught exception in the app: %s", e)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
