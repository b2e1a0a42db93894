package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent/auditevent"
	dbsession "github.com/gqlauth/gqlauth/ent/session"
	"github.com/gqlauth/gqlauth/ent/webauthnchallenge"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/authn/passkey"
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
		cred: newP256Credential(),
	}
	d.auth.AddCredential(d.cred)
	return d
}

// newP256Credential is a credential with a new P-256 key whose
// coordinates both start with a non-zero byte: virtualwebauthn (v1.0.3)
// writes big.Int.Bytes() into the COSE key, which drops a leading zero,
// and go-webauthn rightly refuses a 31-byte coordinate (1 key in 128).
func newP256Credential() virtualwebauthn.Credential {
	for {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		pub, err := k.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil || pub[1] == 0 || pub[33] == 0 {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		return virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, der)
	}
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
		// The step-up's options list the session's user's passkeys.
		if allow, _ := beginSignIn(t, pw.Client, nil).Options["allowCredentials"].([]any); len(allow) != 1 || allow[0].(map[string]any)["id"] != f.CredentialID {
			t.Fatalf("step-up options allow %v", allow)
		}
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
		var r struct{ FinishPasskeySignIn mfaPayloadOf }
		passkeySignIn(t, srv.Client(), d, nil).Decode(t, &r)
		a.Token = r.FinishPasskeySignIn.AccessToken
		wantOK(t, a.Do(t, removeFactorDoc, map[string]any{"id": f.ID}))
		wantCode(t, passkeySignIn(t, srv.Client(), d, nil), "UNAUTHENTICATED")
	})
}

// auditCount counts the audit events of type typ about userID.
func auditCount(t *testing.T, srv *apptest.Server, userID, typ string) int {
	t.Helper()
	n, err := srv.DB.AuditEvent.Query().Where(auditevent.UserID(uuid.MustParse(userID)), auditevent.Type(typ)).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPasskeyRefusals: each answer that must not sign in or register is
// refused, over GraphQL, with the challenge spent: a wrong origin and a
// wrong RP id (registration and sign-in), a replayed challenge, an
// expired one (the server's clock moved past 5 minutes), a signature
// counter that goes backwards (refused, logged, factor.passkey.clone_suspected),
// another user's credential (sign-in by identifier, step-up, registering
// it again), a registration challenge finished from another session or
// used to sign in; an unknown identifier gets options of the same shape
// as an account without passkeys.
func TestPasskeyRefusals(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := passkeyServer(t, b, nil)
		a := signUp(t, srv, "refusals")
		d := newDevice(a.ID, false)

		finishReg := func(a *account, d *device) *apptest.Response {
			ch := beginRegistration(t, a)
			return a.Do(t, finishRegDoc, map[string]any{"c": ch.ChallengeID, "r": d.attest(t, ch.Options)})
		}
		// Registration from a wrong origin or for a wrong RP id.
		evil := newDevice(a.ID, false)
		evil.rp.Origin = "https://app.evil.test"
		wantFieldError(t, finishReg(a, evil), "credential", "does not verify")
		evil = newDevice(a.ID, false)
		evil.rp.ID = passkeyForeignRP
		wantFieldError(t, finishReg(a, evil), "credential", "does not verify")

		// A registration challenge of another session of the same user.
		ch := beginRegistration(t, a)
		other := &account{Client: srv.Client(), ID: a.ID, Email: a.Email}
		signInMFA(t, other)
		wantFieldError(t, other.Do(t, finishRegDoc, map[string]any{"c": ch.ChallengeID, "r": d.attest(t, ch.Options)}),
			"challengeId", "unknown, used or expired")
		// A registration challenge used to sign in.
		ch = beginRegistration(t, a)
		wantFieldError(t, srv.Client().Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": d.assert(t, map[string]any{"challenge": ch.Options["challenge"], "rpId": passkeyRPID})}),
			"challengeId", "unknown, used or expired")

		t.Cleanup(func() {
			if t.Failed() {
				t.Log(srv.Logs.String())
			}
		})
		f := registerPasskey(t, a, d)
		// The same credential cannot be registered twice, by anyone.
		bob := signUp(t, srv, "bob")
		stolen := newDevice(bob.ID, false)
		stolen.cred = d.cred
		wantCode(t, finishReg(bob, stolen), "CONFLICT")

		signInWith := func(c *apptest.Client, d *device, vars map[string]any) *apptest.Response {
			return passkeySignIn(t, c, d, vars)
		}
		// Sign-in from a wrong origin, for a wrong RP id.
		failedBefore := auditCount(t, srv, a.ID, "user.sign_in_failed")
		wrong := *d
		wrong.rp.Origin = "https://app.evil.test"
		wantCode(t, signInWith(srv.Client(), &wrong, nil), "UNAUTHENTICATED")
		wrong = *d
		wrong.rp.ID = passkeyForeignRP
		wantCode(t, signInWith(srv.Client(), &wrong, nil), "UNAUTHENTICATED")
		d.cred.Counter = wrong.cred.Counter
		if n := auditCount(t, srv, a.ID, "user.sign_in_failed") - failedBefore; n != 2 {
			t.Fatalf("%d user.sign_in_failed events for the two refusals, want 2", n)
		}

		// A replayed challenge: the first answer signs in, the same
		// challenge answered again does not.
		c := srv.Client()
		ch = beginSignIn(t, c, nil)
		wantOK(t, c.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": d.assert(t, ch.Options)}))
		wantFieldError(t, c.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": d.assert(t, ch.Options)}),
			"challengeId", "unknown, used or expired")

		// An expired challenge: the server's clock moves 5 minutes on.
		ch = beginSignIn(t, c, nil)
		cer := srv.Passkeys.Ceremonies()
		cer.SetClock(func() time.Time { return time.Now().Add(passkey.ChallengeTTL + time.Second) })
		res := c.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": d.assert(t, ch.Options)})
		cer.SetClock(time.Now)
		wantFieldError(t, res, "challengeId", "unknown, used or expired")

		// A counter that goes backwards: refused, logged, audited.
		row, err := srv.DB.Factor.Get(context.Background(), uuid.MustParse(f.ID))
		if err != nil || row.SignCount < 3 {
			t.Fatalf("stored counter %v, %v", row, err)
		}
		stored := uint32(row.SignCount)
		d.cred.Counter = stored - 3 // assert adds 1
		wantCode(t, signInWith(srv.Client(), d, nil), "UNAUTHENTICATED")
		if auditCount(t, srv, a.ID, "factor.passkey.clone_suspected") != 1 {
			t.Fatal("no factor.passkey.clone_suspected event")
		}
		if !strings.Contains(srv.Logs.String(), "possible clone") {
			t.Fatal("the suspected clone was not logged")
		}
		// An equal counter is refused too; a higher one works again.
		d.cred.Counter = stored - 1 // equal to the stored count
		wantCode(t, signInWith(srv.Client(), d, nil), "UNAUTHENTICATED")
		d.cred.Counter = stored + 4
		wantOK(t, signInWith(srv.Client(), d, nil))

		// Another user's credential: bob's passkey answering a challenge
		// for a's email, and bob's passkey stepping up a's session.
		bd := newDevice(bob.ID, false)
		registerPasskey(t, bob, bd)
		wantCode(t, signInWith(srv.Client(), bd, map[string]any{"e": a.Email}), "UNAUTHENTICATED")
		pw := &account{Client: srv.Client(), ID: a.ID, Email: a.Email}
		p := signInMFA(t, pw)
		wantCode(t, signInWith(pw.Client, bd, nil), "UNAUTHENTICATED")
		// A step-up's challenge is its session's: finished without the
		// session, or by another session of the user, it is refused; a
		// sign-in's challenge cannot step a session up.
		ch = beginSignIn(t, pw.Client, nil)
		wantFieldError(t, srv.Client().Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": d.assert(t, ch.Options)}),
			"challengeId", "unknown, used or expired")
		pw2 := &account{Client: srv.Client(), ID: a.ID, Email: a.Email}
		signInMFA(t, pw2)
		ch = beginSignIn(t, pw.Client, nil)
		wantFieldError(t, pw2.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": d.assert(t, ch.Options)}),
			"challengeId", "unknown, used or expired")
		ch = beginSignIn(t, srv.Client(), nil)
		wantFieldError(t, pw.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": d.assert(t, ch.Options)}),
			"challengeId", "unknown, used or expired")
		if aal, _ := sessionLevel(t, srv, sessionOf(t, p.AccessToken)); aal != 1 {
			t.Fatalf("a's session went to AAL%d with bob's passkey", aal)
		}

		// No enumeration: an unknown email, and an account without
		// passkeys, get options of the same shape.
		carol := signUp(t, srv, "carol")
		keysOf := func(o map[string]any) []string {
			var ks []string
			for k := range o {
				ks = append(ks, k)
			}
			slices.Sort(ks)
			return ks
		}
		known := beginSignIn(t, srv.Client(), map[string]any{"e": carol.Email}).Options
		unknown := beginSignIn(t, srv.Client(), map[string]any{"e": apptest.UniqueEmail("nobody")}).Options
		if !slices.Equal(keysOf(known), keysOf(unknown)) || unknown["allowCredentials"] != nil {
			t.Fatalf("known without passkeys %s, unknown %s", asJSON(t, known), asJSON(t, unknown))
		}
	})
}

// TestPasskeyLockout: refused passkey answers count as failed sign-ins of
// the passkey's account: past LOGIN_MAX_FAILURES even a good answer is
// TOO_MANY_REQUESTS, as a good password would be.
func TestPasskeyLockout(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := passkeyServer(t, b, map[string]string{"LOGIN_MAX_FAILURES": "3"})
		a := signUp(t, srv, "lockout")
		d := newDevice(a.ID, false)
		registerPasskey(t, a, d)
		wrong := *d
		wrong.rp.Origin = "https://app.evil.test"
		for range 3 {
			wantCode(t, passkeySignIn(t, srv.Client(), &wrong, nil), "UNAUTHENTICATED")
		}
		d.cred.Counter = wrong.cred.Counter
		wantCode(t, passkeySignIn(t, srv.Client(), d, nil), "TOO_MANY_REQUESTS")
		wantCode(t, srv.Client().Do(t, signInMFADoc, map[string]any{"in": map[string]any{"email": a.Email, "password": userPassword}}), "TOO_MANY_REQUESTS")
	})
}

// TestPasskeyChallengeStores: with Redis a challenge is the key
// <REDIS_KEY_PREFIX>webauthn:<id> with a TTL of at most 5 minutes, gone
// once taken, and the database holds none; without Redis it is a row of
// webauthn_challenges, deleted when taken, and housekeeping deletes the
// expired ones.
func TestPasskeyChallengeStores(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := passkeyServer(t, b, nil)
		ctx := context.Background()
		c := srv.Client()
		ch := beginSignIn(t, c, nil)
		rows := func() int {
			n, err := srv.DB.WebauthnChallenge.Query().Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if b.Redis {
			key := srv.Config.RedisKeyPrefix + "webauthn:" + ch.ChallengeID
			ttl, err := srv.Redis.TTL(ctx, key).Result()
			if err != nil || ttl <= 0 || ttl > passkey.ChallengeTTL {
				t.Fatalf("key %s: ttl %v, %v", key, ttl, err)
			}
			if rows() != 0 {
				t.Fatal("a challenge went to the database with Redis configured")
			}
			wantCode(t, c.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": newDevice(uuid.NewString(), false).assert(t, ch.Options)}), "UNAUTHENTICATED")
			if n, _ := srv.Redis.Exists(ctx, key).Result(); n != 0 {
				t.Fatal("the challenge is still in Redis after it was taken")
			}
			return
		}
		if rows() != 1 {
			t.Fatalf("%d challenge rows, want 1", rows())
		}
		wantCode(t, c.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": newDevice(uuid.NewString(), false).assert(t, ch.Options)}), "UNAUTHENTICATED")
		if rows() != 0 {
			t.Fatal("a taken challenge is still stored")
		}
		old := beginSignIn(t, c, nil)
		beginSignIn(t, c, nil)
		if _, err := srv.DB.WebauthnChallenge.Delete().Where(webauthnchallenge.ID(uuid.MustParse(old.ChallengeID))).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := srv.DB.WebauthnChallenge.Create().SetID(uuid.MustParse(old.ChallengeID)).SetData([]byte("{}")).
			SetExpiresAt(time.Now().Add(-time.Second)).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := srv.PasskeyChallenges.DeleteExpired(ctx); err != nil || n != 1 || rows() != 1 {
			t.Fatalf("housekeeping deleted %d (%v), %d left; want 1 deleted, 1 left", n, err, rows())
		}
	})
}

// TestPasskeyEmailVerificationRequired: with EMAIL_VERIFICATION=required
// a passkey does not sign in an account whose address is not verified
// yet (EMAIL_NOT_VERIFIED, and a fresh mail), as a password does not.
func TestPasskeyEmailVerificationRequired(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv, smtp := mailSetup(t, b, map[string]string{"EMAIL_VERIFICATION": "required",
			"WEBAUTHN_RP_ID": passkeyRPID, "WEBAUTHN_ORIGINS": passkeyOrigin})
		a := signUp(t, srv, "unverified")
		waitMail(t, smtp, a.Email, 1)
		d := newDevice(a.ID, false)
		registerPasskey(t, a, d)
		wantCode(t, passkeySignIn(t, srv.Client(), d, nil), "EMAIL_NOT_VERIFIED")
		waitMail(t, smtp, a.Email, 2)
	})
}

// TestPasskeyRateLimit: beginPasskeySignIn and finishPasskeySignIn are
// credential fields: with RATE_LIMIT_AUTH=3 a client address gets three
// of them (and signIn) a minute, then TOO_MANY_REQUESTS, passkey or
// password alike.
func TestPasskeyRateLimit(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := passkeyServer(t, b, map[string]string{"RATE_LIMIT_AUTH": "3"})
		c := srv.Client()
		ch := beginSignIn(t, c, nil)
		wantCode(t, c.Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": newDevice(uuid.NewString(), false).assert(t, ch.Options)}), "UNAUTHENTICATED")
		beginSignIn(t, c, nil)
		wantCode(t, c.Do(t, beginSignInDoc, nil), "TOO_MANY_REQUESTS")
		wantCode(t, c.Do(t, signInMFADoc, map[string]any{"in": map[string]any{"email": "a@example.com", "password": userPassword}}), "TOO_MANY_REQUESTS")
	})
}

// TestPasskeyChallengeOnce: ten clients race to finish one sign-in
// challenge with the same good answer; exactly one session starts (GETDEL
// in Redis, the conditional DELETE in the database).
func TestPasskeyChallengeOnce(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := passkeyServer(t, b, nil)
		a := signUp(t, srv, "race")
		d := newDevice(a.ID, false)
		registerPasskey(t, a, d)
		ch := beginSignIn(t, srv.Client(), nil)
		answer := d.assert(t, ch.Options)
		const n = 10
		codes := make(chan string, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				res := srv.Client().Do(t, finishSignInDoc, map[string]any{"c": ch.ChallengeID, "r": answer})
				codes <- res.Code()
			})
		}
		wg.Wait()
		close(codes)
		ok := 0
		for c := range codes {
			switch c {
			case "":
				ok++
			case "BAD_USER_INPUT":
			default:
				t.Errorf("unexpected answer %s", c)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d racing finishes signed in, want exactly 1", ok, n)
		}
	})
}
