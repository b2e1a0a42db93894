package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// TestSPAEmailFlowsInBrowser drives the example app's email screens in
// headless Chromium, reading the mails from the SMTP server the test
// runs: verify the address with the mailed code, then, signed out, ask
// for a reset ("forgot password"), open the mailed link in the browser
// and choose a new password, which signs in; the old password is dead.
// The links point at the app (EMAIL_LINK_PATH=/examples/spa/).
func TestSPAEmailFlowsInBrowser(t *testing.T) {
	srv, smtp := mailSetup(t, apptest.Backends[0], map[string]string{
		"EXAMPLES_ENABLED": "true", "EMAIL_LINK_PATH": "/examples/spa/",
	})
	ctx := newBrowser(t)
	app := srv.HTTP.URL + "/examples/spa/"
	email := apptest.UniqueEmail("spamail")
	waitState := func(state string) {
		t.Helper()
		step(t, ctx, "wait for the app to be "+state,
			chromedp.Poll[chromedp.Void](`document.body.dataset.state === "`+state+`"`))
	}
	text := func(id string) string {
		t.Helper()
		return step(t, ctx, "read #"+id, chromedp.Evaluate[string](`document.getElementById("`+id+`").textContent`))
	}

	step(t, ctx, "open the app", chromedp.Navigate(app))
	waitState("signed-out")
	step(t, ctx, "sign up", chromedp.Steps(
		chromedp.SendKeys(chromedp.ID("signup-email"), email),
		chromedp.SendKeys(chromedp.ID("signup-password"), flowPassword),
		chromedp.Click(chromedp.CSS("#signup-form button[type=submit]")),
	))
	waitState("signed-in")
	if me := text("me"); !strings.Contains(me, `"emailVerified": false`) {
		t.Fatalf("a new account shows %s, want emailVerified false", me)
	}

	// "Verify email": the code of the sign-up mail.
	code := mailCode(t, waitMail(t, smtp, email, 1))
	step(t, ctx, "enter the verification code", chromedp.Steps(
		chromedp.SendKeys(chromedp.ID("verify-code"), code),
		chromedp.Click(chromedp.CSS("#verify-form button[type=submit]")),
		chromedp.Poll[chromedp.Void](`document.getElementById("me").textContent.includes('"emailVerified": true')`),
	))
	if hidden := step(t, ctx, "is the verify form hidden", chromedp.Evaluate[bool](`document.getElementById("verify-form").hidden`)); !hidden {
		t.Error("the verify form stays after verification")
	}

	// "Forgot password": signed out, ask for a reset.
	step(t, ctx, "log out", chromedp.Click(chromedp.ID("logout-button")))
	waitState("signed-out")
	step(t, ctx, "ask for a reset", chromedp.Steps(
		chromedp.SendKeys(chromedp.ID("forgot-email"), email),
		chromedp.Click(chromedp.CSS("#forgot-form button[type=submit]")),
		chromedp.Poll[chromedp.Void](`!document.getElementById("reset-code-form").hidden`),
	))
	link, action, _ := linkParams(t, waitMail(t, smtp, email, 2))
	if action != "reset-password" || link.Path != "/examples/spa/" {
		t.Fatalf("reset link %s, want the app with action reset-password", link)
	}
	// The link names APP_URL's origin (http://localhost:PORT); open it on
	// the test server's.
	step(t, ctx, "open the reset link", chromedp.Navigate(app+"#"+link.Fragment))
	waitState("link")
	step(t, ctx, "choose a new password", chromedp.Steps(
		chromedp.SendKeys(chromedp.ID("reset-link-password"), newPassword),
		chromedp.Click(chromedp.CSS("#reset-link-form button[type=submit]")),
	))
	waitState("signed-in")
	if msg := text("error"); msg != "" {
		t.Fatalf("the app showed an error: %s", msg)
	}
	if url := step(t, ctx, "read the URL", chromedp.Evaluate[string](`location.href`)); strings.Contains(url, "token=") {
		t.Errorf("the token stays in the address bar: %s", url)
	}
	wantCode(t, srv.Client().Do(t, signInDoc, map[string]any{"in": map[string]any{"email": email, "password": flowPassword}}), "UNAUTHENTICATED")
	srv.Client().SignIn(t, email, newPassword)
}

// TestEmailLinkPageInBrowser drives the page gqlauth serves at
// EMAIL_LINK_PATH (for when APP_URL points at gqlauth): opening a
// verification link loads the page and spends nothing; its button
// verifies. A reset link's page sets the new password.
func TestEmailLinkPageInBrowser(t *testing.T) {
	srv, smtp := mailSetup(t, apptest.Backends[0], nil)
	ctx := newBrowser(t)
	email := apptest.UniqueEmail("page")
	c := srv.Client()
	c.SignUp(t, email, flowPassword)
	link, action, tok := linkParams(t, waitMail(t, smtp, email, 1))
	if action != "verify-email" || link.Path != "/auth/email" {
		t.Fatalf("verification link %s", link)
	}
	waitDone := func(what string) {
		t.Helper()
		step(t, ctx, what, chromedp.Poll[chromedp.Void](`document.body.dataset.state === "done"`))
	}

	step(t, ctx, "open the verification link", chromedp.Navigate(srv.HTTP.URL+link.Path+"#"+link.Fragment))
	step(t, ctx, "wait for the page", chromedp.Poll[chromedp.Void](`document.body.dataset.state === "ready"`))
	var me struct{ Me struct{ EmailVerified bool } }
	c.Do(t, meVerifiedDoc, nil).Decode(t, &me)
	if me.Me.EmailVerified {
		t.Fatal("loading the page verified the address: a mail scanner would spend the link")
	}
	if url := step(t, ctx, "read the URL", chromedp.Evaluate[string](`location.href`)); strings.Contains(url, tok) {
		t.Errorf("the token stays in the address bar: %s", url)
	}
	step(t, ctx, "press the button", chromedp.Click(chromedp.CSS("#verify-email button")))
	waitDone("the address is verified")
	c.Do(t, meVerifiedDoc, nil).Decode(t, &me)
	if !me.Me.EmailVerified {
		t.Fatal("the button did not verify the address")
	}

	wantOK(t, srv.Client().Do(t, requestResetDoc, map[string]any{"e": email}))
	link, _, _ = linkParams(t, waitMail(t, smtp, email, 2))
	step(t, ctx, "open the reset link", chromedp.Navigate(srv.HTTP.URL+link.Path+"#"+link.Fragment))
	step(t, ctx, "choose a new password", chromedp.Steps(
		chromedp.SendKeys(chromedp.ID("reset-password-input"), newPassword),
		chromedp.Click(chromedp.CSS("#reset-password button")),
	))
	waitDone("the password is set")
	srv.Client().SignIn(t, email, newPassword)
}
