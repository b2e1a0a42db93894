package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	"github.com/gqlauth/gqlauth/internal/apptest"
)

// TestSPAInBrowser drives examples/spa in headless Chromium through a
// whole session: sign up, `me`, reload (restored through refresh), log
// out, sign in, set up an authenticator app (QR code, first code,
// recovery codes), then sign in with a TOTP code and with a recovery
// code. It checks where the tokens live: the access token in memory only,
// the refresh token in a cookie the page cannot read.
func TestSPAInBrowser(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], map[string]string{"EXAMPLES_ENABLED": "true"})
	ctx := newBrowser(t)
	var jsErrors struct {
		sync.Mutex
		list []string
	}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() { // ends when the browser closes
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			jsErrors.Lock()
			jsErrors.list = append(jsErrors.list, (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
			jsErrors.Unlock()
		}
	}()
	app := srv.HTTP.URL + "/examples/spa/"
	email := apptest.UniqueEmail("spa")
	const password = "correct horse battery"

	waitState := func(state string) {
		t.Helper()
		step(t, ctx, "wait for the app to be "+state,
			chromedp.Poll[chromedp.Void](`document.body.dataset.state === "`+state+`"`))
	}
	eval := func(what, js string) string {
		t.Helper()
		return step(t, ctx, what, chromedp.Evaluate[string](js))
	}
	refreshCookie := func() *network.Cookie {
		t.Helper()
		res := step(t, ctx, "read the browser's cookies", func(ctx context.Context, _ *chromedp.Target) (*network.GetCookiesResult, error) {
			r, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.URL()}})
			return &r, err
		})
		for _, c := range res.Cookies {
			if c.Name == "gqlauth_refresh" {
				return c
			}
		}
		return nil
	}
	// tokensInPage fails the test if the page can reach a token through
	// storage or document.cookie.
	tokensInPage := func() {
		t.Helper()
		storage := eval("read web storage", `JSON.stringify({local: Object.keys(localStorage), session: Object.keys(sessionStorage)})`)
		if storage != `{"local":[],"session":[]}` {
			t.Errorf("the app wrote to web storage (keys): %s", storage)
		}
		cookies := eval("read document.cookie", `document.cookie`)
		if strings.Contains(cookies, "gqlauth_refresh") || strings.Contains(cookies, "eyJ") {
			t.Errorf("document.cookie exposes a token: %q", cookies)
		}
	}

	// A new visitor: no session to restore.
	step(t, ctx, "open the app", chromedp.Navigate(app))
	waitState("signed-out")

	// Sign up.
	step(t, ctx, "fill in the sign-up form", chromedp.Steps(
		chromedp.SendKeys(chromedp.ID("signup-email"), email),
		chromedp.SendKeys(chromedp.ID("signup-password"), password),
		chromedp.Click(chromedp.CSS("#signup-form button[type=submit]")),
	))
	waitState("signed-in")
	if got := eval("read #me", `document.getElementById("me").textContent`); !strings.Contains(got, email) {
		t.Fatalf("me shows %q, want the new user %s", got, email)
	}
	tokensInPage()
	if cookies := eval("read document.cookie", `document.cookie`); !strings.Contains(cookies, "gqlauth_csrf=") {
		t.Fatalf("document.cookie = %q, want the readable gqlauth_csrf cookie", cookies)
	}
	before := refreshCookie()
	if before == nil || !before.HTTPOnly || before.Path != "/graphql" {
		t.Fatalf("refresh cookie = %+v, want an HttpOnly cookie for /graphql", before)
	}

	// A reload forgets the in-memory access token; the app restores the
	// session through refresh, which rotates the refresh cookie.
	step(t, ctx, "reload", chromedp.Reload())
	waitState("signed-in")
	if got := eval("read status", `document.getElementById("status").textContent`); !strings.Contains(got, email) {
		t.Fatalf("after reload the status is %q, want signed in as %s", got, email)
	}
	after := refreshCookie()
	if after == nil || after.Value == before.Value {
		t.Fatal("the reload did not restore the session through refresh (the refresh cookie did not rotate)")
	}
	tokensInPage()

	// `me` with the restored access token.
	step(t, ctx, "reload me", chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`document.getElementById("me").textContent = ""`),
		chromedp.Click(chromedp.ID("me-button")),
		chromedp.Poll[chromedp.Void](`document.getElementById("me").textContent.includes("`+email+`")`),
	))

	// Log out: the session ends on the server and the cookies go.
	step(t, ctx, "log out", chromedp.Click(chromedp.ID("logout-button")))
	waitState("signed-out")
	if c := refreshCookie(); c != nil {
		t.Errorf("the refresh cookie survived logout: %+v", c)
	}
	if cookies := eval("read document.cookie", `document.cookie`); strings.Contains(cookies, "gqlauth_csrf") {
		t.Errorf("the CSRF cookie survived logout: %q", cookies)
	}
	live, err := srv.DB.Client.RefreshToken.Query().Where(refreshtoken.RevokedAtIsNil()).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if live != 0 {
		t.Errorf("%d refresh tokens still live after logout", live)
	}
	res := srv.Client().Do(t, `mutation($t: String) { refresh(refreshToken: $t) { accessToken } }`, map[string]any{"t": after.Value})
	if res.Code() != "UNAUTHENTICATED" {
		t.Errorf("refresh with the logged-out token: %s, want UNAUTHENTICATED", res.Body)
	}
	step(t, ctx, "reload after logout", chromedp.Reload())
	waitState("signed-out")

	// Sign in again.
	step(t, ctx, "fill in the sign-in form", chromedp.Steps(
		chromedp.SendKeys(chromedp.ID("signin-email"), email),
		chromedp.SendKeys(chromedp.ID("signin-password"), password),
		chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")),
	))
	waitState("signed-in")
	tokensInPage()
	if msg := eval("read #error", `document.getElementById("error").textContent`); msg != "" {
		t.Errorf("the app showed an error: %s", msg)
	}

	// Set up an authenticator app: the QR code shows, the code computed
	// from the secret confirms it, the recovery codes show once, and the
	// session is AAL2.
	awayFromStepEdge()
	step(t, ctx, "set up an authenticator app", chromedp.Steps(
		chromedp.Click(chromedp.ID("totp-setup-button")),
		chromedp.Poll[chromedp.Void](`(() => { const i = document.getElementById("totp-qr");
			return i.src.startsWith("data:image/png;base64,") && i.complete && i.naturalWidth > 0; })()`),
	))
	secret := eval("read the secret", `document.getElementById("totp-secret").textContent`)
	step(t, ctx, "confirm the app with its code", chromedp.Steps(
		chromedp.SendKeys(chromedp.ID("totp-code"), code(t, secret, -30*time.Second)),
		chromedp.Click(chromedp.CSS("#totp-verify-form button[type=submit]")),
		chromedp.Poll[chromedp.Void](`!document.getElementById("recovery").hidden && document.getElementById("aal").textContent.includes("AAL2")`),
	))
	recovery := strings.Fields(eval("read the recovery codes", `document.getElementById("recovery-codes").textContent`))
	if len(recovery) != 10 {
		t.Fatalf("the app showed %d recovery codes, want 10", len(recovery))
	}

	// Sign in again: the app asks for the code; a wrong one is refused,
	// the right one finishes the sign-in at AAL2.
	signIn := func() {
		t.Helper()
		step(t, ctx, "log out and sign in with the password", chromedp.Steps(
			chromedp.Click(chromedp.ID("logout-button")),
			chromedp.Poll[chromedp.Void](`document.body.dataset.state === "signed-out"`),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("signin-email").value = ""; document.getElementById("signin-password").value = ""`),
			chromedp.SendKeys(chromedp.ID("signin-email"), email),
			chromedp.SendKeys(chromedp.ID("signin-password"), password),
			chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")),
		))
		waitState("mfa")
	}
	signIn()
	right := code(t, secret, 0)
	wrong := []byte(right)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	step(t, ctx, "enter a wrong code", chromedp.Steps(
		chromedp.SendKeys(chromedp.ID("mfa-code"), string(wrong)),
		chromedp.Click(chromedp.CSS("#mfa-form button[type=submit]")),
		chromedp.Poll[chromedp.Void](`document.getElementById("error").textContent.includes("BAD_USER_INPUT")`),
	))
	waitState("mfa")
	step(t, ctx, "enter the right code", chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`document.getElementById("mfa-code").value = ""`),
		chromedp.SendKeys(chromedp.ID("mfa-code"), right),
		chromedp.Click(chromedp.CSS("#mfa-form button[type=submit]")),
	))
	waitState("signed-in")
	if got := eval("read #aal", `document.getElementById("aal").textContent`); !strings.Contains(got, "AAL2") {
		t.Fatalf("after the code the app says %q, want AAL2", got)
	}
	tokensInPage()

	// A recovery code works in the same field.
	signIn()
	step(t, ctx, "enter a recovery code", chromedp.Steps(
		chromedp.SendKeys(chromedp.ID("mfa-code"), recovery[3]),
		chromedp.Click(chromedp.CSS("#mfa-form button[type=submit]")),
	))
	waitState("signed-in")

	// No uncaught JavaScript error along the way.
	jsErrors.Lock()
	defer jsErrors.Unlock()
	for _, e := range jsErrors.list {
		t.Errorf("uncaught exception in the app: %s", e)
	}
}
