package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent/auditevent"
	"github.com/gqlauth/gqlauth/internal/apptest"
)

// TestMFAPasswordResetThenStepUp ("password reset then step-up", ASVS
// 6.4.3): a user with a verified TOTP factor resets the password with
// the code of the reset mail (a real SMTP server); the reset signs in a
// new AAL1 session that still owes the step-up: guarded fields answer
// MFA_REQUIRED until verifyMfa, after which the session is AAL2. The
// factor survives the reset, and the factor flows are in the audit trail.
func TestMFAPasswordResetThenStepUp(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv, smtp := mailSetup(t, b, nil)
		en := enroll(t, srv, "reset-mfa")
		waitMail(t, smtp, en.Email, 1) // the verification mail of the sign-up

		wantOK(t, srv.Client().Do(t, requestResetDoc, map[string]any{"e": en.Email}))
		c := mailCode(t, waitMail(t, smtp, en.Email, 2))
		var out struct{ ResetPassword mfaPayloadOf }
		anon := srv.Client()
		anon.Do(t, `mutation($e: String, $c: String, $p: String!) {
  resetPassword(email: $e, code: $c, newPassword: $p) { `+mfaPayload+` } }`,
			map[string]any{"e": en.Email, "c": c, "p": newPassword}).Decode(t, &out)
		p := out.ResetPassword
		if p.AAL != "AAL1" || len(p.Factors) != 1 || p.Factors[0].ID != en.FactorID || p.Factors[0].Status != "VERIFIED" {
			t.Fatalf("reset payload: aal %s, factors %+v", p.AAL, p.Factors)
		}
		if cl := claims(t, p.AccessToken); cl["aal"] != "aal1" {
			t.Fatalf("reset token claims %v", cl)
		}
		// The old session ended with the reset.
		wantCode(t, en.Do(t, meDoc, nil), "UNAUTHENTICATED")

		a := &account{Client: srv.Client(), ID: en.ID, Email: en.Email}
		a.Token = p.AccessToken
		wantOK(t, a.Do(t, meDoc, nil))
		wantCode(t, a.Do(t, guardedQueryDoc, map[string]any{"u": a.ID}), "MFA_REQUIRED")
		// The mailed-proof mutations are open to an AAL1 token (a browser
		// at AAL1 that follows a mail's link sends it): a wrong proof is
		// BAD_USER_INPUT, not MFA_REQUIRED.
		for _, doc := range []struct {
			q    string
			vars map[string]any
		}{
			{verifyDoc, map[string]any{"e": en.Email, "c": "000000"}},
			{confirmChangeDoc, map[string]any{"c": "000000"}},
			{resetDoc, map[string]any{"t": "not-a-token", "p": "yet another long password"}},
		} {
			wantCode(t, a.Do(t, doc.q, doc.vars), "BAD_USER_INPUT")
		}

		// A wrong code changes nothing (and is recorded as mfa.failed).
		wrong := "000000"
		if wrong == code(t, en.Secret, 0) {
			wrong = "111111"
		}
		wantCode(t, stepUp(t, a, en.FactorID, wrong), "BAD_USER_INPUT")
		wantCode(t, a.Do(t, guardedQueryDoc, map[string]any{"u": a.ID}), "MFA_REQUIRED")

		forgetReplayGuard(t, srv, en.FactorID)
		var up struct{ VerifyMfa mfaPayloadOf }
		stepUp(t, a, en.FactorID, code(t, en.Secret, 0)).Decode(t, &up)
		if up.VerifyMfa.AAL != "AAL2" || sessionOf(t, up.VerifyMfa.AccessToken) != sessionOf(t, p.AccessToken) {
			t.Fatalf("verifyMfa after the reset: %+v", up.VerifyMfa)
		}
		a.Token = up.VerifyMfa.AccessToken
		wantOK(t, a.Do(t, guardedQueryDoc, map[string]any{"u": a.ID}))

		// The audit trail has the factor flows and the reset.
		want := []string{"factor.enrolled", "user.password_reset", "mfa.failed", "mfa.verified"}
		deadline := time.Now().Add(5 * time.Second)
		for {
			evs := srv.DB.AuditEvent.Query().Where(auditevent.UserID(uuid.MustParse(a.ID))).
				Order(auditevent.ByOccurredAt()).AllX(context.Background())
			var got []string
			for _, e := range evs {
				got = append(got, e.Type)
			}
			missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return slices.Contains(got, w) })
			if len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit events %v lack %v", got, missing)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
