package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
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
	var in struct{ FinishPasskeySignIn mfaPayloadOf }
	passkeySignIn(t, srv.Client(), d, nil).Decode(t, &in)
	held := srv.Client()
	held.Token = in.FinishPasskeySignIn.AccessToken
	wantOK(t, held.Do(t, meDoc, nil))
	wantOK(t, admin.Do(t, resetFactorsDoc, map[string]any{"u": a.ID}))
	// The session the lost passkey started ends with the reset.
	wantCode(t, held.Do(t, meDoc, nil), "UNAUTHENTICATED")
	wantCode(t, passkeySignIn(t, srv.Client(), d, nil), "UNAUTHENTICATED")
	pw := &account{Client: srv.Client(), ID: a.ID, Email: a.Email}
	if p := signInMFA(t, pw); p.AAL != "AAL1" {
		t.Fatalf("password sign-in after reset: %s", p.AAL)
	}
	registerPasskey(t, pw, d)
	wantOK(t, passkeySignIn(t, srv.Client(), d, nil))
}

// TestPasskeySecretsStayOut: no challenge, no part of a browser answer
// (clientDataJSON, authenticatorData, signature, attestationObject) and
// no token handed out reaches the log or an audit event, through a
// registration, sign-ins and a step-up that succeed, and refusals (wrong
// origin, replayed challenge, a registration refused).
func TestPasskeySecretsStayOut(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := passkeyServer(t, b, nil)
		var secrets []string
		keep := func(m map[string]any) map[string]any {
			if r, ok := m["response"].(map[string]any); ok {
				for _, k := range []string{"clientDataJSON", "authenticatorData", "signature", "attestationObject"} {
					if s, _ := r[k].(string); s != "" {
						secrets = append(secrets, s)
					}
				}
			}
			return m
		}
		challenge := func(ch challengeOf) challengeOf {
			secrets = append(secrets, ch.Options["challenge"].(string))
			return ch
		}
		a := signUp(t, srv, "secrets")
		d := newDevice(a.ID, false)
		// A refused registration (another origin), then a good one.
		evil := newDevice(a.ID, false)
		evil.rp.Origin = "https://app.evil.test"
		ch := challenge(beginRegistration(t, a))
		wantFieldError(t, a.Do(t, finishRegDoc, map[string]any{"c": ch.ChallengeID, "r": keep(evil.attest(t, ch.Options))}), "credential", "does not verify")
		ch = challenge(beginRegistration(t, a))
		wantOK(t, a.Do(t, finishRegDoc, map[string]any{"c": ch.ChallengeID, "r": keep(d.attest(t, ch.Options))}))

		var out struct{ FinishPasskeySignIn mfaPayloadOf }
		c := srv.Client()
		ch = challenge(beginSignIn(t, c, map[string]any{"e": a.Email}))
		answer := keep(d.assert(t, ch.Options))
		c.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": answer}).Decode(t, &out)
		secrets = append(secrets, out.FinishPasskeySignIn.AccessToken)
		wantFieldError(t, c.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": answer}), "challengeId", "unknown, used or expired")
		wrong := *d
		wrong.rp.Origin = "https://app.evil.test"
		ch = challenge(beginSignIn(t, c, nil))
		wantCode(t, c.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": keep(wrong.assert(t, ch.Options))}), "UNAUTHENTICATED")
		d.cred.Counter = wrong.cred.Counter
		pw := &account{Client: srv.Client(), ID: a.ID, Email: a.Email}
		signInMFA(t, pw)
		ch = challenge(beginSignIn(t, pw.Client, nil))
		pw.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": keep(d.assert(t, ch.Options))}).Decode(t, &out)
		secrets = append(secrets, out.FinishPasskeySignIn.AccessToken)

		events, err := srv.DB.AuditEvent.Query().All(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		trail := asJSON(t, events)
		logs := srv.Logs.String()
		if len(secrets) < 20 {
			t.Fatalf("only %d secrets collected", len(secrets))
		}
		for _, s := range secrets {
			if strings.Contains(logs, s) {
				t.Errorf("the log holds %.20s…", s)
			}
			if strings.Contains(trail, s) {
				t.Errorf("the audit trail holds %.20s…", s)
			}
		}
	})
}

// TestPasskeyEnumerationByUsername: beginPasskeySignIn by an unknown
// username answers like a known username without passkeys: the same
// members, no allowCredentials.
func TestPasskeyEnumerationByUsername(t *testing.T) {
	srv := passkeyServer(t, apptest.Backends[0], nil)
	a := signUp(t, srv, "named")
	name := "named_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	wantOK(t, a.Do(t, `mutation($in: UpdateProfileInput!) { updateProfile(input: $in) { id } }`, map[string]any{"in": map[string]any{"username": name}}))
	known := beginSignIn(t, srv.Client(), map[string]any{"u": name}).Options
	unknown := beginSignIn(t, srv.Client(), map[string]any{"u": name + "x"}).Options
	delete(known, "challenge")
	delete(unknown, "challenge")
	if asJSON(t, known) != asJSON(t, unknown) || known["allowCredentials"] != nil {
		t.Fatalf("known username without passkeys %s, unknown %s", asJSON(t, known), asJSON(t, unknown))
	}
}

// TestPasskeyEnumerationQueries: beginPasskeySignIn by an unknown email
// runs as many SQL statements as by a known account without passkeys, so
// the time of the answer does not tell them apart either (before, an
// unknown account skipped the passkeys query: one database round trip
// less, about 60-200µs on PostgreSQL, measurable over a few hundred tries).
func TestPasskeyEnumerationQueries(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		counter := &sqlCounter{}
		srv := apptest.Start(t, apptest.Config(t, b, map[string]string{"WEBAUTHN_RP_ID": passkeyRPID, "WEBAUTHN_ORIGINS": passkeyOrigin}),
			ent.Debug(), ent.Log(counter.record))
		known := signUp(t, srv, "counted")
		c := srv.Client()
		// The statements of the request (not those of the mail outbox,
		// which runs beside it).
		count := func(email string) (int, []string) {
			_, all := counter.during(func() { beginSignIn(t, c, map[string]any{"e": email}) })
			var mine []string
			for _, s := range all {
				if !strings.Contains(s, "mail_messages") {
					mine = append(mine, s)
				}
			}
			return len(mine), mine
		}
		count(known.Email) // warm up
		k, ks := count(known.Email)
		u, us := count(apptest.UniqueEmail("nobody"))
		if k != u {
			t.Fatalf("known account without passkeys: %d statements, unknown: %d\nknown:\n%s\nunknown:\n%s",
				k, u, strings.Join(ks, "\n"), strings.Join(us, "\n"))
		}
	})
}
