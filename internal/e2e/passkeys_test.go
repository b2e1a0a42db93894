package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/descope/virtualwebauthn"
	"github.com/google/uuid"

	dbsession "github.com/gqlauth/gqlauth/ent/session"
	"github.com/gqlauth/gqlauth/internal/apptest"
)

// GraphQL documents of the passkey operations.
const (
	beginRegDoc      = `mutation($n: String) { beginPasskeyRegistration(friendlyName: $n) { challengeId options } }`
	finishRegDoc     = `mutation($c: ID!, $r: JSON!) { finishPasskeyRegistration(challengeId: $c, credential: $r) { id type status friendlyName credentialId backupEligible backedUp } }`
	beginSignInDoc   = `mutation($e: String, $u: String) { beginPasskeySignIn(email: $e, username: $u) { challengeId options } }`
	finishSignInDoc  = `mutation($c: ID!, $r: JSON!) { finishPasskeySignIn(challengeId: $c, credential: $r) { ` + mfaPayload + ` } }`
	passkeyRPID      = "example.test"
	passkeyOrigin    = "https://app.example.test"
	passkeyForeignRP = "evil.test"
)

// passkeyServer is a gqlauth whose relying party is example.test, used
// from https://app.example.test.
func passkeyServer(t *testing.T, b apptest.Backend, overrides map[string]string) *apptest.Server {
	t.Helper()
	vars := map[string]string{"WEBAUTHN_RP_ID": passkeyRPID, "WEBAUTHN_ORIGINS": passkeyOrigin}
	for k, v := range overrides {
		vars[k] = v
	}
	return apptest.New(t, b, vars)
}

// device is a software authenticator (descope/virtualwebauthn): it signs
// with a real P-256 key, so the server verifies real attestations and
// assertions.
type device struct {
	rp   virtualwebauthn.RelyingParty
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

// newDevice is an authenticator for user id userID (the user handle it
// returns), with user verification; synced makes it backup eligible and
// backed up (a synced passkey).
func newDevice(userID string, synced bool) *device {
	uid := uuid.MustParse(userID)
	d := &device{
		rp: virtualwebauthn.RelyingParty{ID: passkeyRPID, Name: "gqlauth", Origin: passkeyOrigin},
		auth: virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{
			UserHandle: uid[:], BackupEligible: synced, BackupState: synced}),
		cred: virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2),
	}
	d.auth.AddCredential(d.cred)
	return d
}

// challengeOf is a begin mutation's answer.
type challengeOf struct {
	ChallengeID string         `json:"challengeId"`
	Options     map[string]any `json:"options"`
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fromJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// attest is what navigator.credentials.create answers for options.
func (d *device) attest(t *testing.T, options map[string]any) map[string]any {
	t.Helper()
	o, err := virtualwebauthn.ParseAttestationOptions(asJSON(t, options))
	if err != nil {
		t.Fatalf("attestation options: %v", err)
	}
	return fromJSON(t, virtualwebauthn.CreateAttestationResponse(d.rp, d.auth, d.cred, *o))
}

// assert is what navigator.credentials.get answers for options; the
// counter goes up by one first, as an authenticator's does.
func (d *device) assert(t *testing.T, options map[string]any) map[string]any {
	t.Helper()
	o, err := virtualwebauthn.ParseAssertionOptions(asJSON(t, options))
	if err != nil {
		t.Fatalf("assertion options: %v", err)
	}
	d.cred.Counter++
	return fromJSON(t, virtualwebauthn.CreateAssertionResponse(d.rp, d.auth, d.cred, *o))
}

// beginRegistration asks for a registration challenge as a.
func beginRegistration(t *testing.T, a *account) challengeOf {
	t.Helper()
	var out struct{ BeginPasskeyRegistration challengeOf }
	a.Do(t, beginRegDoc, map[string]any{"n": "Laptop"}).Decode(t, &out)
	return out.BeginPasskeyRegistration
}

// passkeyFactor is a factor as finishPasskeyRegistration answers it.
type passkeyFactor struct {
	ID, Type, Status, FriendlyName, CredentialID string
	BackupEligible, BackedUp                     bool
}

// registerPasskey registers d as a passkey of a and returns the factor.
func registerPasskey(t *testing.T, a *account, d *device) passkeyFactor {
	t.Helper()
	ch := beginRegistration(t, a)
	var out struct{ FinishPasskeyRegistration passkeyFactor }
	a.Do(t, finishRegDoc, map[string]any{"c": ch.ChallengeID, "r": d.attest(t, ch.Options)}).Decode(t, &out)
	return out.FinishPasskeyRegistration
}

// beginSignIn asks for a sign-in challenge (vars: e / u, or none).
func beginSignIn(t *testing.T, c *apptest.Client, vars map[string]any) challengeOf {
	t.Helper()
	var out struct{ BeginPasskeySignIn challengeOf }
	c.Do(t, beginSignInDoc, vars).Decode(t, &out)
	return out.BeginPasskeySignIn
}

// passkeySignIn runs a whole passkey sign-in of d through c.
func passkeySignIn(t *testing.T, c *apptest.Client, d *device, vars map[string]any) *apptest.Response {
	t.Helper()
	ch := beginSignIn(t, c, vars)
	return c.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": d.assert(t, ch.Options)})
}

// sessionLevel reads a session's level and methods from the database.
func sessionLevel(t *testing.T, srv *apptest.Server, sid string) (int, []string) {
	t.Helper()
	s, err := srv.DB.Session.Query().Where(dbsession.ID(uuid.MustParse(sid))).Only(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.Aal, s.Amr
}

// wantLevel checks a payload's level and methods in the token and in the
// session's row.
func wantLevel(t *testing.T, srv *apptest.Server, p mfaPayloadOf, aal int, amr []string) {
	t.Helper()
	want := map[int]string{1: "AAL1", 2: "AAL2"}[aal]
	if p.AAL != want {
		t.Fatalf("payload aal %s, want %s", p.AAL, want)
	}
	cl := claims(t, p.AccessToken)
	var got []string
	for _, m := range cl["amr"].([]any) {
		got = append(got, m.(string))
	}
	if cl["aal"] != map[int]string{1: "aal1", 2: "aal2"}[aal] || !slices.Equal(got, amr) {
		t.Fatalf("token aal %v amr %v, want aal%d %v", cl["aal"], got, aal, amr)
	}
	dbAAL, dbAMR := sessionLevel(t, srv, sessionOf(t, p.AccessToken))
	if dbAAL != aal || !slices.Equal(dbAMR, amr) {
		t.Fatalf("session row aal %d amr %v, want %d %v", dbAAL, dbAMR, aal, amr)
	}
}

// TestPasskeys: a signed-in user registers a passkey (its options are
// what navigator.credentials.create takes: rp, user, challenge, resident
// key preferred); signs in with it without an identifier (discoverable)
// and by email, each an AAL2 session with amr hwk+user in the token and
// the row; a synced passkey says swk; a password sign-in steps up with the
// passkey to AAL2 in the same session; removeFactor removes it.
func TestPasskeys(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := passkeyServer(t, b, nil)
		a := signUp(t, srv, "passkey")
		d := newDevice(a.ID, false)

		ch := beginRegistration(t, a)
		o := ch.Options
		rp, _ := o["rp"].(map[string]any)
		sel, _ := o["authenticatorSelection"].(map[string]any)
		if rp["id"] != passkeyRPID || o["challenge"] == "" || sel["residentKey"] != "preferred" {
			t.Fatalf("creation options %s", asJSON(t, o))
		}
		var reg struct{ FinishPasskeyRegistration passkeyFactor }
		a.Do(t, finishRegDoc, map[string]any{"c": ch.ChallengeID, "r": d.attest(t, o)}).Decode(t, &reg)
		f := reg.FinishPasskeyRegistration
		if f.Type != "PASSKEY" || f.Status != "VERIFIED" || f.FriendlyName != "Laptop" || f.BackupEligible || f.BackedUp || f.CredentialID == "" {
			t.Fatalf("registered factor %+v", f)
		}

		// Discoverable: no identifier, no allowCredentials.
		c := srv.Client()
		var out struct{ FinishPasskeySignIn mfaPayloadOf }
		passkeySignIn(t, c, d, nil).Decode(t, &out)
		if out.FinishPasskeySignIn.User.ID != a.ID {
			t.Fatalf("signed in as %s, want %s", out.FinishPasskeySignIn.User.ID, a.ID)
		}
		wantLevel(t, srv, out.FinishPasskeySignIn, 2, []string{"hwk", "user"})

		// By email: the options list the passkey.
		c = srv.Client()
		ch = beginSignIn(t, c, map[string]any{"e": a.Email})
		allow, _ := ch.Options["allowCredentials"].([]any)
		if len(allow) != 1 || allow[0].(map[string]any)["id"] != f.CredentialID || ch.Options["userVerification"] != "required" {
			t.Fatalf("request options %s", asJSON(t, ch.Options))
		}
		c.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": d.assert(t, ch.Options)}).Decode(t, &out)
		wantLevel(t, srv, out.FinishPasskeySignIn, 2, []string{"hwk", "user"})

		// Step-up: a password sign-in is AAL1 (the passkey is a verified
		// factor), and the passkey raises that session to AAL2.
		pw := &account{Client: srv.Client(), ID: a.ID, Email: a.Email}
		p := signInMFA(t, pw)
		wantLevel(t, srv, p, 1, []string{"pwd"})
		passkeySignIn(t, pw.Client, d, nil).Decode(t, &out)
		if sessionOf(t, out.FinishPasskeySignIn.AccessToken) != sessionOf(t, p.AccessToken) {
			t.Fatal("the step-up started another session")
		}
		wantLevel(t, srv, out.FinishPasskeySignIn, 2, []string{"pwd", "hwk", "user", "mfa"})

		// A synced passkey is swk.
		b2 := signUp(t, srv, "synced")
		d2 := newDevice(b2.ID, true)
		f2 := registerPasskey(t, b2, d2)
		if !f2.BackupEligible || !f2.BackedUp {
			t.Fatalf("synced factor %+v", f2)
		}
		passkeySignIn(t, srv.Client(), d2, nil).Decode(t, &out)
		wantLevel(t, srv, out.FinishPasskeySignIn, 2, []string{"swk", "user"})

		// removeFactor removes it: the passkey signs in no more.
		pw.Token = out.FinishPasskeySignIn.AccessToken
		pw.Token = ""
		var r struct{ FinishPasskeySignIn mfaPayloadOf }
		passkeySignIn(t, srv.Client(), d, nil).Decode(t, &r)
		a.Token = r.FinishPasskeySignIn.AccessToken
		wantOK(t, a.Do(t, removeFactorDoc, map[string]any{"id": f.ID}))
		wantCode(t, passkeySignIn(t, srv.Client(), d, nil), "UNAUTHENTICATED")
	})
}
