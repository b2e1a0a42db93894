package e2e

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent/factor"
	"github.com/gqlauth/gqlauth/ent/mailmessage"
	"github.com/gqlauth/gqlauth/ent/recoverycode"
	dbsession "github.com/gqlauth/gqlauth/ent/session"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/authn/totp"
)

// GraphQL documents of the second-factor operations.
const (
	mfaPayload       = apptest.PayloadFields + ` aal factors { id type status friendlyName }`
	enrollDoc        = `mutation($n: String) { enrollTotp(friendlyName: $n) { factor { id type status friendlyName createdAt } secret uri qrCode } }`
	verifyEnrollDoc  = `mutation($f: ID!, $c: String!) { verifyTotpEnrollment(factorId: $f, code: $c) }`
	verifyMfaDoc     = `mutation($f: ID, $c: String!) { verifyMfa(factorId: $f, code: $c) { ` + mfaPayload + ` } }`
	factorsDoc       = `{ factors { id type status friendlyName lastUsedAt } }`
	reauthDoc        = `mutation($p: String, $c: String) { reauthenticate(password: $p, code: $c) { ` + mfaPayload + ` } }`
	regenerateDoc    = `mutation { regenerateRecoveryCodes }`
	removeFactorDoc  = `mutation($id: ID!) { removeFactor(id: $id) }`
	resetFactorsDoc  = `mutation($u: ID!) { resetFactors(userId: $u) }`
	signInMFADoc     = `mutation($in: SignInInput!) { signIn(input: $in) { ` + mfaPayload + ` } }`
	refreshMFADoc    = `mutation($t: String) { refresh(refreshToken: $t) { ` + mfaPayload + ` } }`
	guardedQueryDoc  = `query($u: ID!) { refreshTokens(userId: $u) { id } }`
	sessionsAALDoc   = `{ sessions { id current aal amr authTime } }`
	recoveryCodeForm = `^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`
)

// mfaPayloadOf is an AuthPayload with its assurance.
type mfaPayloadOf struct {
	apptest.Payload
	AAL     string `json:"aal"`
	Factors []struct {
		ID, Type, Status string
	}
}

// enrolled is a user with a verified TOTP factor.
type enrolled struct {
	*account
	FactorID string
	Secret   string
	Recovery []string
}

// code is what an authenticator app holding secret shows at now+offset.
func code(t *testing.T, secret string, offset time.Duration) string {
	t.Helper()
	c, err := totp.Code(secret, time.Now().Add(offset))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// awayFromStepEdge waits until at least 5 s remain in the current 30 s
// step, so that a test's codes for the steps before, at and after now
// stay valid while it runs.
func awayFromStepEdge() {
	if left := 30 - time.Now().Unix()%30; left < 5 {
		time.Sleep(time.Duration(left+1) * time.Second)
	}
}

// forgetReplayGuard lets a test use a code of an earlier step again on
// a factor: it resets the last accepted step, as if time had moved on.
func forgetReplayGuard(t *testing.T, srv *apptest.Server, factorID string) {
	t.Helper()
	if err := srv.DB.Factor.UpdateOneID(uuid.MustParse(factorID)).SetLastStep(0).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// enroll signs up a user and enrolls a TOTP factor with a code of the
// previous step (so that the current and next steps remain for the test).
func enroll(t *testing.T, srv *apptest.Server, name string) *enrolled {
	t.Helper()
	awayFromStepEdge()
	a := signUp(t, srv, name)
	var e struct {
		EnrollTotp struct {
			Factor struct{ ID, Type, Status string }
			Secret string
			URI    string
			QRCode string
		}
	}
	a.Do(t, enrollDoc, map[string]any{"n": "Phone"}).Decode(t, &e)
	en := e.EnrollTotp
	if en.Factor.Type != "TOTP" || en.Factor.Status != "UNVERIFIED" || len(en.Secret) < 32 ||
		!strings.HasPrefix(en.URI, "otpauth://totp/") || !strings.Contains(en.URI, "secret="+en.Secret) ||
		!strings.HasPrefix(en.QRCode, "data:image/png;base64,") {
		t.Fatalf("unexpected enrollment %+v", en)
	}
	var v struct{ VerifyTotpEnrollment []string }
	a.Do(t, verifyEnrollDoc, map[string]any{"f": en.Factor.ID, "c": code(t, en.Secret, -30*time.Second)}).Decode(t, &v)
	return &enrolled{account: a, FactorID: en.Factor.ID, Secret: en.Secret, Recovery: v.VerifyTotpEnrollment}
}

// signInMFA signs in a with its password and returns the payload.
func signInMFA(t *testing.T, a *account) mfaPayloadOf {
	t.Helper()
	var out struct{ SignIn mfaPayloadOf }
	a.Do(t, signInMFADoc, map[string]any{"in": map[string]any{"email": a.Email, "password": userPassword}}).Decode(t, &out)
	a.Token = out.SignIn.AccessToken
	return out.SignIn
}

// stepUp calls verifyMfa with a TOTP code (factorID "" for a recovery code).
func stepUp(t *testing.T, a *account, factorID, c string) *apptest.Response {
	t.Helper()
	vars := map[string]any{"c": c, "f": nil}
	if factorID != "" {
		vars["f"] = factorID
	}
	return a.Do(t, verifyMfaDoc, vars)
}

// TestMFAEnrollAndStepUp: enrolling with a code computed from the secret
// returns 10 recovery codes once; the session that enrolled is AAL2 from
// its next refresh; a new sign-in is AAL1 and held to the allow-list
// until verifyMfa, which keeps the session id; a refresh keeps AAL2; the
// access token, the session and /auth/verify?aal=2 say the level; a
// replayed code is refused; no secret reaches the logs.
func TestMFAEnrollAndStepUp(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		u := enroll(t, srv, "mfa")
		if len(u.Recovery) != 10 {
			t.Fatalf("got %d recovery codes, want 10", len(u.Recovery))
		}
		form := regexp.MustCompile(recoveryCodeForm)
		seen := map[string]bool{}
		for _, c := range u.Recovery {
			if !form.MatchString(c) || seen[c] {
				t.Fatalf("recovery code %q is malformed or repeated", c)
			}
			seen[c] = true
		}
		var fs struct{ Factors []struct{ ID, Status string } }
		u.Do(t, factorsDoc, nil).Decode(t, &fs)
		if len(fs.Factors) != 1 || fs.Factors[0].Status != "VERIFIED" {
			t.Fatalf("factors = %+v", fs.Factors)
		}

		// The enrolling session's old (AAL1) access token now owes a
		// step-up; its next refresh is AAL2, without another code.
		wantCode(t, u.Do(t, guardedQueryDoc, map[string]any{"u": u.ID}), "MFA_REQUIRED")
		var r struct{ Refresh mfaPayloadOf }
		u.Do(t, refreshMFADoc, map[string]any{"t": u.Refresh}).Decode(t, &r)
		if r.Refresh.AAL != "AAL2" {
			t.Fatalf("refresh after enrollment: aal %s, want AAL2", r.Refresh.AAL)
		}
		u.Token = r.Refresh.AccessToken
		wantOK(t, u.Do(t, guardedQueryDoc, map[string]any{"u": u.ID}))

		// A new sign-in is AAL1 with the factor listed.
		c := srv.Client()
		a := &account{Client: c, ID: u.ID, Email: u.Email}
		p := signInMFA(t, a)
		if p.AAL != "AAL1" || len(p.Factors) != 1 || p.Factors[0].ID != u.FactorID {
			t.Fatalf("sign-in: aal %s factors %+v", p.AAL, p.Factors)
		}
		sid := sessionOf(t, p.AccessToken)
		if cl := claims(t, p.AccessToken); cl["aal"] != "aal1" || cl["auth_time"] == nil {
			t.Fatalf("AAL1 claims %v", cl)
		}

		// The allow-list: these work, anything else is MFA_REQUIRED.
		for _, doc := range []string{meDoc, factorsDoc, `{ sessions { id } }`} {
			wantOK(t, a.Do(t, doc, nil))
		}
		for _, tc := range []struct {
			doc  string
			vars map[string]any
		}{
			{guardedQueryDoc, map[string]any{"u": u.ID}},
			{`query($u: ID!) { user(id: $u) { id } }`, map[string]any{"u": u.ID}},
			{`mutation { updateProfile(input: {firstName: "Eve"}) { id } }`, nil},
			{enrollDoc, nil},
			{regenerateDoc, nil},
			{`mutation($p: String) { reauthenticate(password: $p) { accessToken } }`, map[string]any{"p": userPassword}},
		} {
			res := a.Do(t, tc.doc, tc.vars)
			wantCode(t, res, "MFA_REQUIRED")
			if len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Message, "verifyMfa") {
				t.Fatalf("MFA_REQUIRED answer %s", res.Body)
			}
		}
		if res := askVerify(t, srv, http.MethodGet, "?aal=2", a.Token); res.StatusCode != http.StatusUnauthorized ||
			!strings.Contains(res.Header.Get("WWW-Authenticate"), "insufficient_user_authentication") {
			t.Fatalf("/auth/verify?aal=2 with AAL1: %d %v", res.StatusCode, res.Header)
		}
		if res := askVerify(t, srv, http.MethodGet, "", a.Token); res.StatusCode != http.StatusOK || res.Header.Get("X-Auth-AAL") != "1" {
			t.Fatalf("/auth/verify with AAL1: %d %v", res.StatusCode, res.Header)
		}

		// The code the enrollment used (previous step) is a replay.
		wantCode(t, stepUp(t, a, u.FactorID, code(t, u.Secret, -30*time.Second)), "BAD_USER_INPUT")
		// Someone else's factor id is NOT_FOUND.
		wantCode(t, stepUp(t, a, uuid.NewString(), code(t, u.Secret, 0)), "NOT_FOUND")

		now := code(t, u.Secret, 0)
		var s struct{ VerifyMfa mfaPayloadOf }
		stepUp(t, a, u.FactorID, now).Decode(t, &s)
		if s.VerifyMfa.AAL != "AAL2" || sessionOf(t, s.VerifyMfa.AccessToken) != sid {
			t.Fatalf("step-up: aal %s, session %s (was %s)", s.VerifyMfa.AAL, sessionOf(t, s.VerifyMfa.AccessToken), sid)
		}
		cl := claims(t, s.VerifyMfa.AccessToken)
		amr, _ := cl["amr"].([]any)
		if cl["aal"] != "aal2" || !slices.Contains(amr, any("otp")) || !slices.Contains(amr, any("pwd")) || !slices.Contains(amr, any("mfa")) {
			t.Fatalf("AAL2 claims %v", cl)
		}
		// The refresh token from sign-in was replaced at the step-up.
		wantCode(t, refresh(t, srv.Client(), *p.RefreshToken), "UNAUTHENTICATED")
		a.Token = s.VerifyMfa.AccessToken
		wantOK(t, a.Do(t, guardedQueryDoc, map[string]any{"u": u.ID}))
		if res := askVerify(t, srv, http.MethodGet, "?aal=2", a.Token); res.StatusCode != http.StatusOK || res.Header.Get("X-Auth-AAL") != "2" {
			t.Fatalf("/auth/verify?aal=2 with AAL2: %d %v", res.StatusCode, res.Header)
		}
		if res := askVerify(t, srv, http.MethodGet, "?aal=bogus", a.Token); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("/auth/verify?aal=bogus: %d, want 401 (fail closed)", res.StatusCode)
		}

		// The session row says so, and sessions shows it.
		row, err := srv.DB.Session.Query().Where(dbsession.ID(uuid.MustParse(sid))).Only(context.Background())
		if err != nil || row.Aal != 2 || row.AuthTime == nil {
			t.Fatalf("session row %+v, %v", row, err)
		}
		var ss struct {
			Sessions []struct {
				ID      string
				Current bool
				AAL     string `json:"aal"`
				AMR     []string
				Time    time.Time `json:"authTime"`
			}
		}
		a.Do(t, sessionsAALDoc, nil).Decode(t, &ss)
		for _, x := range ss.Sessions {
			if x.Current && (x.AAL != "AAL2" || !slices.Contains(x.AMR, "otp") || time.Since(x.Time) > time.Minute) {
				t.Fatalf("current session %+v", x)
			}
		}

		// A refresh keeps AAL2.
		var r2 struct{ Refresh mfaPayloadOf }
		a.Do(t, refreshMFADoc, map[string]any{"t": *s.VerifyMfa.RefreshToken}).Decode(t, &r2)
		if r2.Refresh.AAL != "AAL2" || claims(t, r2.Refresh.AccessToken)["aal"] != "aal2" || sessionOf(t, r2.Refresh.AccessToken) != sid {
			t.Fatalf("refresh after step-up: %+v", r2.Refresh)
		}

		// The code just used is spent for every session.
		c3 := &account{Client: srv.Client(), ID: u.ID, Email: u.Email}
		signInMFA(t, c3)
		wantCode(t, stepUp(t, c3, u.FactorID, now), "BAD_USER_INPUT")
		wantOK(t, stepUp(t, c3, u.FactorID, code(t, u.Secret, 30*time.Second)))

		for _, secret := range append([]string{u.Secret}, u.Recovery...) {
			if strings.Contains(srv.Logs.String(), secret) {
				t.Fatal("a TOTP secret or recovery code reached the log")
			}
		}
		f, err := srv.DB.Factor.Query().Where(factor.ID(uuid.MustParse(u.FactorID))).Only(context.Background())
		if err != nil || strings.Contains(string(f.Secret), u.Secret) {
			t.Fatalf("the secret is stored in the clear (%v)", err)
		}
	})
}

// TestMFAParallelWrongCodes: 50 wrong codes at once on one factor, and
// at most MFA_MAX_FAILURES (5) are compared: the rest, and then even the
// right code, are TOO_MANY_REQUESTS with retryAfter.
func TestMFAParallelWrongCodes(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		u := enroll(t, srv, "guess")
		a := &account{Client: srv.Client(), ID: u.ID, Email: u.Email}
		signInMFA(t, a)
		right := code(t, u.Secret, 0)
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			counts = map[string]int{}
		)
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wrong := []byte(right)
				wrong[i%6] = '0' + (wrong[i%6]-'0'+1)%10
				res, err := post(srv.URL(), a.Token, verifyMfaDoc, map[string]any{"f": u.FactorID, "c": string(wrong)})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					counts["transport: "+err.Error()]++
					return
				}
				counts[res.Code()]++
			}()
		}
		wg.Wait()
		if counts["BAD_USER_INPUT"] > 5 || counts["BAD_USER_INPUT"]+counts["TOO_MANY_REQUESTS"] != 50 {
			t.Fatalf("50 parallel wrong codes: %v; want at most 5 compared, the rest TOO_MANY_REQUESTS", counts)
		}
		res := stepUp(t, a, u.FactorID, right)
		wantCode(t, res, "TOO_MANY_REQUESTS")
		if res.Errors[0].Extensions["retryAfter"] == nil {
			t.Fatalf("no retryAfter: %s", res.Body)
		}
	})
}

// TestMFARecoveryCodes: a recovery code steps up once (and sends a
// notice); used again, or after the set is regenerated, it is refused;
// the new set works.
func TestMFARecoveryCodes(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		u := enroll(t, srv, "recover")
		a := &account{Client: srv.Client(), ID: u.ID, Email: u.Email}
		signInMFA(t, a)
		var s struct{ VerifyMfa mfaPayloadOf }
		stepUp(t, a, "", strings.ToUpper(u.Recovery[0])).Decode(t, &s)
		if s.VerifyMfa.AAL != "AAL2" {
			t.Fatalf("recovery step-up: %+v", s.VerifyMfa)
		}
		n, err := srv.DB.MailMessage.Query().Where(mailmessage.Kind("recovery_code_used"), mailmessage.Recipient(u.Email)).Count(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("recovery_code_used notices: %d, %v", n, err)
		}

		b2 := &account{Client: srv.Client(), ID: u.ID, Email: u.Email}
		signInMFA(t, b2)
		wantCode(t, stepUp(t, b2, "", u.Recovery[0]), "BAD_USER_INPUT")

		// Regenerating needs AAL2 (b2 is AAL1) and voids the old set.
		wantCode(t, b2.Do(t, regenerateDoc, nil), "MFA_REQUIRED")
		a.Token = s.VerifyMfa.AccessToken
		var g struct{ RegenerateRecoveryCodes []string }
		a.Do(t, regenerateDoc, nil).Decode(t, &g)
		if len(g.RegenerateRecoveryCodes) != 10 || slices.Contains(g.RegenerateRecoveryCodes, u.Recovery[1]) {
			t.Fatalf("regenerated %v", g.RegenerateRecoveryCodes)
		}
		wantCode(t, stepUp(t, b2, "", u.Recovery[1]), "BAD_USER_INPUT")
		wantOK(t, stepUp(t, b2, "", g.RegenerateRecoveryCodes[1]))
	})
}

// TestMFARequiredAdmins: with MFA_REQUIRED=admins an admin without a
// factor can only enroll one (MFA_ENROLLMENT_REQUIRED otherwise), then
// works at AAL2; an ordinary user is not held. With all, everyone is.
func TestMFARequiredAdmins(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"MFA_REQUIRED": "admins"})
		usersDoc := `{ users(first: 1) { totalCount } }`
		plain := signUp(t, srv, "plain")
		wantOK(t, plain.Do(t, guardedQueryDoc, map[string]any{"u": plain.ID}))

		awayFromStepEdge()
		admin := newAdmin(t, srv, "boss")
		wantCode(t, admin.Do(t, usersDoc, nil), "MFA_ENROLLMENT_REQUIRED")
		wantOK(t, admin.Do(t, meDoc, nil))
		var e struct {
			EnrollTotp struct {
				Factor struct{ ID string }
				Secret string
			}
		}
		admin.Do(t, enrollDoc, nil).Decode(t, &e)
		wantOK(t, admin.Do(t, verifyEnrollDoc, map[string]any{"f": e.EnrollTotp.Factor.ID, "c": code(t, e.EnrollTotp.Secret, 0)}))
		// Now the AAL1 token owes a step-up; the refresh is AAL2.
		wantCode(t, admin.Do(t, usersDoc, nil), "MFA_REQUIRED")
		var r struct{ Refresh mfaPayloadOf }
		admin.Do(t, refreshMFADoc, map[string]any{"t": admin.Refresh}).Decode(t, &r)
		admin.Token = r.Refresh.AccessToken
		wantOK(t, admin.Do(t, usersDoc, nil))

		// An admin resets a user's factors: the user signs in at AAL1
		// with nothing owed, and is told by email.
		u := enroll(t, srv, "lost")
		wantCode(t, u.Do(t, resetFactorsDoc, map[string]any{"u": u.ID}), "MFA_REQUIRED")
		var ur struct{ Refresh mfaPayloadOf }
		u.Do(t, refreshMFADoc, map[string]any{"t": u.Refresh}).Decode(t, &ur)
		u.Token = ur.Refresh.AccessToken
		wantCode(t, u.Do(t, resetFactorsDoc, map[string]any{"u": u.ID}), "FORBIDDEN")
		wantOK(t, admin.Do(t, resetFactorsDoc, map[string]any{"u": u.ID}))
		// The reset ends what the factors proved: the user's sessions
		// (an AAL2 one here) are over, their tokens refused at once.
		wantCode(t, u.Do(t, meDoc, nil), "UNAUTHENTICATED")
		wantCode(t, refresh(t, srv.Client(), *ur.Refresh.RefreshToken), "UNAUTHENTICATED")
		if ev := findEvents(dbEvents(t, srv), "session.revoked", uuid.MustParse(u.ID)); len(ev) == 0 || ev[len(ev)-1].Details["reason"] != "factors_reset" {
			t.Fatalf("session.revoked events after the reset: %s", describeEvents(ev))
		}
		p := signInMFA(t, u.account)
		if p.AAL != "AAL1" || len(p.Factors) != 0 {
			t.Fatalf("after reset: %+v", p)
		}
		wantOK(t, u.Do(t, guardedQueryDoc, map[string]any{"u": u.ID}))
		n, err := srv.DB.MailMessage.Query().Where(mailmessage.Kind("factors_reset"), mailmessage.Recipient(u.Email)).Count(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("factors_reset notices: %d, %v", n, err)
		}
		if left, _ := srv.DB.RecoveryCode.Query().Where(recoverycode.UserID(uuid.MustParse(u.ID))).Count(context.Background()); left != 0 {
			t.Fatalf("%d recovery codes left after reset", left)
		}

		all := apptest.New(t, b, map[string]string{"MFA_REQUIRED": "all"})
		x := signUp(t, all, "everyone")
		wantCode(t, x.Do(t, guardedQueryDoc, map[string]any{"u": x.ID}), "MFA_ENROLLMENT_REQUIRED")
		wantOK(t, x.Do(t, enrollDoc, nil))
	})
}

// TestMFAReauthentication: past REAUTH_MAX_AGE, enrollTotp,
// changePassword, deleting oneself, removeFactor and
// regenerateRecoveryCodes answer REAUTHENTICATION_REQUIRED;
// reauthenticate renews the window (with a code at AAL2); removing the
// factor then sends a notice.
func TestMFAReauthentication(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"REAUTH_MAX_AGE": "2s"})
		a := signUp(t, srv, "stale")
		time.Sleep(2100 * time.Millisecond)
		wantCode(t, a.Do(t, enrollDoc, nil), "REAUTHENTICATION_REQUIRED")
		wantCode(t, a.Do(t, `mutation { changePassword(currentPassword: "`+userPassword+`", newPassword: "another long password") { accessToken } }`, nil), "REAUTHENTICATION_REQUIRED")
		wantCode(t, a.Do(t, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": a.ID}), "REAUTHENTICATION_REQUIRED")
		wantCode(t, a.Do(t, reauthDoc, map[string]any{"p": "wrong password"}), "UNAUTHENTICATED")
		awayFromStepEdge()
		var r struct{ Reauthenticate mfaPayloadOf }
		a.Do(t, reauthDoc, map[string]any{"p": userPassword}).Decode(t, &r)
		a.Token = r.Reauthenticate.AccessToken
		var e struct {
			EnrollTotp struct {
				Factor struct{ ID string }
				Secret string
			}
		}
		a.Do(t, enrollDoc, nil).Decode(t, &e)
		fid, secret := e.EnrollTotp.Factor.ID, e.EnrollTotp.Secret
		wantOK(t, a.Do(t, verifyEnrollDoc, map[string]any{"f": fid, "c": code(t, secret, -30*time.Second)}))
		var rf struct{ Refresh mfaPayloadOf }
		a.Do(t, refreshMFADoc, map[string]any{"t": *r.Reauthenticate.RefreshToken}).Decode(t, &rf)
		a.Token = rf.Refresh.AccessToken

		time.Sleep(2100 * time.Millisecond)
		wantCode(t, a.Do(t, removeFactorDoc, map[string]any{"id": fid}), "REAUTHENTICATION_REQUIRED")
		wantCode(t, a.Do(t, regenerateDoc, nil), "REAUTHENTICATION_REQUIRED")
		// At AAL2 the password alone is not enough.
		wantCode(t, a.Do(t, reauthDoc, map[string]any{"p": userPassword}), "BAD_USER_INPUT")
		forgetReplayGuard(t, srv, fid)
		a.Do(t, reauthDoc, map[string]any{"p": userPassword, "c": code(t, secret, 0)}).Decode(t, &r)
		if r.Reauthenticate.AAL != "AAL2" {
			t.Fatalf("reauthenticate at AAL2: %+v", r.Reauthenticate)
		}
		a.Token = r.Reauthenticate.AccessToken
		wantOK(t, a.Do(t, removeFactorDoc, map[string]any{"id": fid}))
		n, err := srv.DB.MailMessage.Query().Where(mailmessage.Kind("factor_removed"), mailmessage.Recipient(a.Email)).Count(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("factor_removed notices: %d, %v", n, err)
		}
		if left, _ := srv.DB.RecoveryCode.Query().Count(context.Background()); left != 0 {
			t.Fatalf("%d recovery codes left after the last factor went", left)
		}
	})
}

// TestMFAStaleEnrollment: an enrollment that waited for its first code
// longer than an hour cannot be completed, and housekeeping deletes it;
// a verified factor of the same age stays.
func TestMFAStaleEnrollment(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		u := enroll(t, srv, "stale")
		var e struct {
			EnrollTotp struct {
				Factor struct{ ID string }
				Secret string
			}
		}
		var r struct{ Refresh mfaPayloadOf }
		u.Do(t, refreshMFADoc, map[string]any{"t": u.Refresh}).Decode(t, &r)
		u.Token = r.Refresh.AccessToken
		u.Do(t, enrollDoc, nil).Decode(t, &e)
		q := `UPDATE factors SET created_at = ?`
		if b.Postgres {
			q = `UPDATE factors SET created_at = $1`
		}
		if _, err := srv.DB.SQL.ExecContext(context.Background(), q, time.Now().Add(-61*time.Minute).UTC()); err != nil {
			t.Fatal(err)
		}
		wantCode(t, u.Do(t, verifyEnrollDoc, map[string]any{"f": e.EnrollTotp.Factor.ID, "c": code(t, e.EnrollTotp.Secret, 0)}), "NOT_FOUND")
		n, err := srv.MFA.DeleteStaleEnrollments(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("housekeeping deleted %d, %v; want the one stale enrollment", n, err)
		}
		var fs struct{ Factors []struct{ ID, Status string } }
		u.Do(t, factorsDoc, nil).Decode(t, &fs)
		if len(fs.Factors) != 1 || fs.Factors[0].ID != u.FactorID {
			t.Fatalf("factors after housekeeping: %+v", fs.Factors)
		}
	})
}
