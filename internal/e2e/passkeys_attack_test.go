package e2e

import (
	"context"
	"testing"

	"github.com/descope/virtualwebauthn"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent/factor"
	"github.com/gqlauth/gqlauth/internal/apptest"
)

// TestPasskeyAnswerNotAnObject: a credential that is JSON but not an
// object (a string, a list, a number, literal or variable) is the
// client's mistake: BAD_USER_INPUT naming credential, on every finish
// mutation, never an internal error.
func TestPasskeyAnswerNotAnObject(t *testing.T) {
	srv := passkeyServer(t, apptest.Backends[0], nil)
	a := signUp(t, srv, "notobject")
	for _, bad := range []any{"hello", []any{1, 2}, 42, true} {
		ch := beginSignIn(t, srv.Client(), nil)
		wantFieldError(t, srv.Client().Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": bad}), "credential", "JSON object")
		reg := beginRegistration(t, a)
		wantFieldError(t, a.Do(t, finishRegDoc, map[string]any{"c": reg.ChallengeID, "r": bad}), "credential", "JSON object")
	}
	ch := beginSignIn(t, srv.Client(), nil)
	wantFieldError(t, srv.Client().Do(t, `mutation { finishPasskeySignIn(challengeId: "`+ch.ChallengeID+`", credential: "x") { accessToken } }`, nil),
		"credential", "JSON object")
}

// TestPasskeyUserVerification: a passkey sign-in or step-up whose
// authenticator did not verify the user (UV=0), or saw no user (UP=0), is
// refused and the session stays AAL1; a registration without user
// verification is refused too (BAD_USER_INPUT, nothing stored), since
// such a passkey could never sign in nor step up, and would leave its
// user due to step up with nothing that can.
func TestPasskeyUserVerification(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := passkeyServer(t, b, map[string]string{"LOGIN_MAX_FAILURES": "100"})

		// Registration without UV, or without UP: refused, nothing stored.
		u := signUp(t, srv, "nouvreg")
		for _, opts := range []virtualwebauthn.AuthenticatorOptions{{UserNotVerified: true}, {UserNotPresent: true}} {
			d := newDevice(u.ID, false)
			d.auth.Options.UserNotVerified, d.auth.Options.UserNotPresent = opts.UserNotVerified, opts.UserNotPresent
			ch := beginRegistration(t, u)
			wantFieldError(t, u.Do(t, finishRegDoc, map[string]any{"c": ch.ChallengeID, "r": d.attest(t, ch.Options)}), "credential", "does not verify")
		}
		if n, err := srv.DB.Factor.Query().Where(factor.UserID(uuid.MustParse(u.ID))).Count(context.Background()); err != nil || n != 0 {
			t.Fatalf("%d factors stored after refused registrations (%v)", n, err)
		}
		// The registration options ask the browser for user verification.
		if sel, _ := beginRegistration(t, u).Options["authenticatorSelection"].(map[string]any); sel["userVerification"] != "required" {
			t.Fatalf("registration asks userVerification %v", sel["userVerification"])
		}

		// Sign-in and step-up without UV, or without UP: refused.
		a := signUp(t, srv, "nouv")
		d := newDevice(a.ID, false)
		registerPasskey(t, a, d)
		pw := &account{Client: srv.Client(), ID: a.ID, Email: a.Email}
		p := signInMFA(t, pw)
		for _, opts := range []virtualwebauthn.AuthenticatorOptions{{UserNotVerified: true}, {UserNotPresent: true}} {
			w := *d
			w.auth.Options.UserNotVerified, w.auth.Options.UserNotPresent = opts.UserNotVerified, opts.UserNotPresent
			wantCode(t, passkeySignIn(t, srv.Client(), &w, nil), "UNAUTHENTICATED")
			wantCode(t, passkeySignIn(t, srv.Client(), &w, map[string]any{"e": a.Email}), "UNAUTHENTICATED")
			wantCode(t, passkeySignIn(t, pw.Client, &w, nil), "UNAUTHENTICATED")
			d.cred.Counter = w.cred.Counter
		}
		if aal, _ := sessionLevel(t, srv, sessionOf(t, p.AccessToken)); aal != 1 {
			t.Fatalf("the session went to AAL%d without user verification", aal)
		}
		wantOK(t, passkeySignIn(t, pw.Client, d, nil))
	})
}

// TestPasskeyOrigins: WEBAUTHN_ORIGINS is https://app.example.test; an
// answer signed for a subdomain of it, for the RP id's own host, over
// http or on another port is refused; only the listed origin signs in.
func TestPasskeyOrigins(t *testing.T) {
	srv := passkeyServer(t, apptest.Backends[0], map[string]string{"LOGIN_MAX_FAILURES": "100"})
	a := signUp(t, srv, "origins")
	d := newDevice(a.ID, false)
	registerPasskey(t, a, d)
	for _, o := range []string{"https://evil.app.example.test", "https://example.test", "http://app.example.test",
		"https://app.example.test:8443", "https://app.example.test.evil.test"} {
		w := *d
		w.rp.Origin = o
		if res := passkeySignIn(t, srv.Client(), &w, nil); res.Code() != "UNAUTHENTICATED" {
			t.Fatalf("origin %s: %s", o, res.Body)
		}
		d.cred.Counter = w.cred.Counter
	}
	wantOK(t, passkeySignIn(t, srv.Client(), d, nil))
}

// TestPasskeyZeroCounter: an authenticator that keeps no signature
// counter (always 0, as synced passkeys do) signs in again and again.
func TestPasskeyZeroCounter(t *testing.T) {
	srv := passkeyServer(t, apptest.Backends[0], nil)
	a := signUp(t, srv, "zero")
	d := newDevice(a.ID, false)
	registerPasskey(t, a, d)
	for range 3 {
		ch := beginSignIn(t, srv.Client(), nil)
		o, err := virtualwebauthn.ParseAssertionOptions(asJSON(t, ch.Options))
		if err != nil {
			t.Fatal(err)
		}
		d.cred.Counter = 0
		wantOK(t, srv.Client().Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID,
			"r": fromJSON(t, virtualwebauthn.CreateAssertionResponse(d.rp, d.auth, d.cred, *o))}))
	}
}

// TestPasskeyResetFactors: an admin's resetFactors removes the user's
// passkeys: they sign in no more, the user is no longer due to step up
// after a password, and may register the device again.
func TestPasskeyResetFactors(t *testing.T) {
	srv := passkeyServer(t, apptest.Backends[0], nil)
	admin := newAdmin(t, srv, "resetter")
	a := signUp(t, srv, "lostdevice")
	d := newDevice(a.ID, false)
	registerPasskey(t, a, d)
	wantOK(t, passkeySignIn(t, srv.Client(), d, nil))
	wantOK(t, admin.Do(t, resetFactorsDoc, map[string]any{"u": a.ID}))
	wantCode(t, passkeySignIn(t, srv.Client(), d, nil), "UNAUTHENTICATED")
	pw := &account{Client: srv.Client(), ID: a.ID, Email: a.Email}
	if p := signInMFA(t, pw); p.AAL != "AAL1" {
		t.Fatalf("password sign-in after reset: %s", p.AAL)
	}
	registerPasskey(t, pw, d)
	wantOK(t, passkeySignIn(t, srv.Client(), d, nil))
}
