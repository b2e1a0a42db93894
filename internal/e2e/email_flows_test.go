package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/gqlauth/gqlauth/ent/emailtoken"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/mail/smtptest"
)

// The email flows, end to end: gqlauth over HTTP, its outbox worker, and
// a real SMTP server (smtptest) whose mails the tests read and follow.

const (
	flowPassword = "correct horse battery"
	newPassword  = "a fresh staple of horses"

	requestResetDoc = `mutation($e: String!) { requestPasswordReset(email: $e) }`
	resetDoc        = `mutation($t: String, $e: String, $c: String, $p: String!) {
  resetPassword(token: $t, email: $e, code: $c, newPassword: $p) { ` + apptest.PayloadFields + ` } }`
	verifyDoc        = `mutation($t: String, $e: String, $c: String) { verifyEmail(token: $t, email: $e, code: $c) }`
	sendVerifyDoc    = `mutation { sendVerificationEmail }`
	requestChangeDoc = `mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e, currentPassword: $p) }`
	confirmChangeDoc = `mutation($t: String, $c: String) { confirmEmailChange(token: $t, code: $c) { id email emailVerified emailVerifiedAt } }`
	meVerifiedDoc    = `{ me { email emailVerified emailVerifiedAt } }`
)

// mailWait bounds how long a test waits for the worker to deliver.
const mailWait = 15 * time.Second

// mailSetup is a gqlauth whose mail goes to an in-process SMTP server.
func mailSetup(t *testing.T, b apptest.Backend, overrides map[string]string) (*apptest.Server, *smtptest.Server) {
	t.Helper()
	smtp := smtptest.New(t, smtptest.Options{})
	vars := map[string]string{"MAIL_URL": smtp.URL(), "MAIL_RETRY_BACKOFF": "50ms"}
	for k, v := range overrides {
		vars[k] = v
	}
	return apptest.New(t, b, vars), smtp
}

// waitMail waits for the n-th mail (from 1) to addr and returns it.
func waitMail(t *testing.T, smtp *smtptest.Server, addr string, n int) smtptest.Message {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for {
		if got := smtp.To(addr); len(got) >= n {
			return got[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail #%d to %s after %s (have %d)", n, addr, mailWait, len(smtp.To(addr)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// linkParams reads the action and token of a mail's link, after checking
// that the token travels in the fragment (never sent to a server).
func linkParams(t *testing.T, m smtptest.Message) (link *url.URL, action, token string) {
	t.Helper()
	links := m.Links()
	for _, l := range links {
		u, err := url.Parse(l)
		if err != nil || u.Fragment == "" {
			continue
		}
		q, _ := url.ParseQuery(u.Fragment)
		if q.Get("token") != "" {
			if u.RawQuery != "" {
				t.Errorf("link %s has a query: the token must be in the fragment only", l)
			}
			return u, q.Get("action"), q.Get("token")
		}
	}
	t.Fatalf("no link with a token in mail %q: %v", m.Subject, links)
	return nil, "", ""
}

// kind is the template a mail was written from (gqlauth's outbox rows
// record it; here it is read from the subject's wording).
func mailCode(t *testing.T, m smtptest.Message) string {
	t.Helper()
	c := m.Code()
	if len(c) != 6 {
		t.Fatalf("no 6-digit code in mail %q:\n%s", m.Subject, m.Text)
	}
	return c
}

// TestPasswordResetByLink: the whole reset through a real mail: the link
// arrives, a scanner's GET of it spends nothing, the reset signs in a new
// session, every old session and access token is dead, the address
// counts as verified, a notice follows, and the link works once.
func TestPasswordResetByLink(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv, smtp := mailSetup(t, b, nil)
		email := apptest.UniqueEmail("reset")
		a := srv.Client()
		old := a.SignUp(t, email, flowPassword)
		waitMail(t, smtp, email, 1) // verification
		other := srv.Client()
		otherP := other.SignIn(t, email, flowPassword)

		res := srv.Client().Do(t, requestResetDoc, map[string]any{"e": strings.ToUpper(email)})
		wantOK(t, res)
		if string(res.Data) != `{"requestPasswordReset":true}` {
			t.Fatalf("requestPasswordReset answered %s", res.Data)
		}
		m := waitMail(t, smtp, email, 2)
		link, action, tok := linkParams(t, m)
		if action != "reset-password" || !strings.HasPrefix(link.String(), "http://localhost:") {
			t.Errorf("link %s: want action reset-password on APP_URL", link)
		}
		if strings.Contains(srv.Logs.String(), tok) || strings.Contains(srv.Logs.String(), mailCode(t, m)) {
			t.Error("the reset token or code reached the log")
		}

		// A mail scanner follows the link: GET loads the page, nothing more.
		for range 3 {
			page, err := http.Get(srv.HTTP.URL + link.Path + "#" + link.Fragment)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(page.Body)
			page.Body.Close()
			if page.StatusCode != http.StatusOK || !strings.Contains(string(body), "link.js") {
				t.Fatalf("GET %s: %d %.200s", link.Path, page.StatusCode, body)
			}
		}

		var out struct{ ResetPassword apptest.Payload }
		srv.Client().Do(t, resetDoc, map[string]any{"t": tok, "p": newPassword}).Decode(t, &out)
		if out.ResetPassword.AccessToken == "" || out.ResetPassword.User.ID != old.User.ID {
			t.Fatalf("reset payload %+v", out.ResetPassword)
		}
		if c := claims(t, out.ResetPassword.AccessToken); c["email_verified"] != true {
			t.Errorf("after a reset email_verified = %v, want true", c["email_verified"])
		}
		// Every old session is over: access tokens refused, refresh tokens dead.
		for name, p := range map[string]apptest.Payload{"sign-up": old, "other sign-in": otherP} {
			if code := meCode(t, srv, p.AccessToken); code != "UNAUTHENTICATED" {
				t.Errorf("%s access token after reset: %q, want UNAUTHENTICATED", name, code)
			}
			wantCode(t, refresh(t, srv.Client(), *p.RefreshToken), "UNAUTHENTICATED")
		}
		if code := meCode(t, srv, out.ResetPassword.AccessToken); code != "" {
			t.Errorf("the new session's token: %s", code)
		}
		// The old password is gone, the new one works.
		wantCode(t, srv.Client().Do(t, signInDoc, map[string]any{"in": map[string]any{"email": email, "password": flowPassword}}), "UNAUTHENTICATED")
		srv.Client().SignIn(t, email, newPassword)
		// Once only.
		wantFieldError(t, srv.Client().Do(t, resetDoc, map[string]any{"t": tok, "p": "yet another long password"}), "token", "wrong or has expired")
		// The notice.
		notice := waitMail(t, smtp, email, 3)
		if !strings.Contains(notice.Text, "was changed") || notice.Code() != "" {
			t.Errorf("third mail should be the password-changed notice without a code:\n%s", notice.Text)
		}
		var me struct{ Me struct{ EmailVerified bool } }
		c := srv.Client()
		c.Token = out.ResetPassword.AccessToken
		c.Do(t, meVerifiedDoc, nil).Decode(t, &me)
		if !me.Me.EmailVerified {
			t.Error("emailVerified is false after a reset")
		}
		evs := dbEvents(t, srv)
		uid := uuid.MustParse(old.User.ID)
		oneEvent(t, evs, "user.password_reset_requested", uid)
		oneEvent(t, evs, "user.password_reset", uid)
		if ev := oneEvent(t, evs, "user.email_verified", uid); ev.Details["method"] != "password_reset" {
			t.Errorf("email_verified by the reset: details %v", ev.Details)
		}
	})
}

// TestPasswordResetByCode: a code works with the address; a newer request
// voids the older; five wrong codes void a request; an expired one is
// refused with the same answer as a wrong one; the new password must pass
// the policy (and a refused one leaves the code unspent).
func TestPasswordResetByCode(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv, smtp := mailSetup(t, b, nil)
		email := apptest.UniqueEmail("code")
		srv.Client().SignUp(t, email, flowPassword)
		waitMail(t, smtp, email, 1)
		reset := func(code, pw string) *apptest.Response {
			return srv.Client().Do(t, resetDoc, map[string]any{"e": email, "c": code, "p": pw})
		}
		request := func(n int) string {
			wantOK(t, srv.Client().Do(t, requestResetDoc, map[string]any{"e": email}))
			return mailCode(t, waitMail(t, smtp, email, n))
		}

		first := request(2)
		second := request(3)
		if first != second { // (one in a million they are equal)
			wantFieldError(t, reset(first, newPassword), "code", "wrong or has expired")
		}
		// The policy: refused, and the code is still good.
		wantFieldError(t, reset(second, "password1"), "newPassword", "is too common")
		wantFieldError(t, reset(second, email), "newPassword", "")
		var out struct{ ResetPassword apptest.Payload }
		reset(second, newPassword).Decode(t, &out)
		wantFieldError(t, reset(second, "another good passphrase"), "code", "wrong or has expired")

		// Five wrong codes void the request, even for the right code after.
		third := request(5) // (#4 is the password-changed notice)
		wrong := "000000"
		if third == wrong {
			wrong = "111111"
		}
		for i := range 5 {
			res := reset(wrong, "another good passphrase")
			wantFieldError(t, res, "code", "wrong or has expired")
			if i == 0 && res.Errors[0].Message != "the code is wrong or has expired" {
				t.Errorf("message %q", res.Errors[0].Message)
			}
		}
		wantFieldError(t, reset(third, "another good passphrase"), "code", "wrong or has expired")

		// Expired: the same answer as wrong.
		fourth := request(6)
		ctx := context.Background()
		live := srv.DB.Client.EmailToken.Query().
			Where(emailtoken.KindEQ(emailtoken.KindPasswordReset), emailtoken.SpentAtIsNil(), emailtoken.VoidedAtIsNil()).OnlyX(ctx)
		q := "UPDATE email_tokens SET expires_at = $1 WHERE id = $2"
		if srv.DB.Dialect == dialect.SQLite {
			q = "UPDATE email_tokens SET expires_at = ? WHERE id = ?"
		}
		if _, err := srv.DB.SQL.ExecContext(ctx, q, time.Now().Add(-time.Second), live.ID); err != nil {
			t.Fatal(err)
		}
		wantFieldError(t, reset(fourth, "another good passphrase"), "code", "wrong or has expired")
		// Malformed codes and a missing proof are input errors too.
		wantFieldError(t, reset("12345", newPassword), "code", "")
		wantFieldError(t, srv.Client().Do(t, resetDoc, map[string]any{"p": newPassword}), "token", "")
	})
}

// TestPasswordResetUnknownAddress: an address without an account gets the
// same answer, and no mail; with PASSWORD_RESET_NOTIFY_UNKNOWN it gets a
// notice without a code. Both count toward the per-address limit alike.
func TestPasswordResetUnknownAddress(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv, smtp := mailSetup(t, b, map[string]string{"EMAIL_RATE_LIMIT": "3"})
		known := apptest.UniqueEmail("known")
		unknown := apptest.UniqueEmail("nobody")
		knownID := uuid.MustParse(srv.Client().SignUp(t, known, flowPassword).User.ID)
		waitMail(t, smtp, known, 1)

		answers := map[string]string{}
		for _, addr := range []string{unknown, known} {
			res := srv.Client().Do(t, requestResetDoc, map[string]any{"e": addr})
			answers[addr] = string(res.Body)
		}
		if answers[known] != answers[unknown] {
			t.Errorf("known and unknown addresses answered differently:\n%s\n%s", answers[known], answers[unknown])
		}
		// Both requests are in the audit trail; the unknown one without
		// a user, and neither with the address.
		evs := findEvents(dbEvents(t, srv), "user.password_reset_requested", uuid.Nil)
		if len(evs) != 2 || evs[0].UserID != nil || evs[0].Details["reason"] != "unknown_account" ||
			evs[1].UserID == nil || *evs[1].UserID != knownID || len(evs[1].Details) != 0 {
			t.Fatalf("password_reset_requested events: %s", describeEvents(evs))
		}
		for _, ev := range evs {
			if strings.Contains(fmt.Sprint(ev.Details), "@") {
				t.Errorf("an address in the audit details: %v", ev.Details)
			}
		}
		waitMail(t, smtp, known, 2)
		// The worker delivers in order: the unknown address's request came
		// first, so a mail to it would be here by now.
		if got := smtp.To(unknown); len(got) != 0 {
			t.Errorf("an address without an account was mailed: %q", got[0].Subject)
		}
		// EMAIL_RATE_LIMIT=3: the fourth mail per address is refused, for
		// both alike (the known address had its sign-up mail).
		wantOK(t, srv.Client().Do(t, requestResetDoc, map[string]any{"e": unknown}))
		for _, addr := range []string{unknown, known} {
			wantOK(t, srv.Client().Do(t, requestResetDoc, map[string]any{"e": addr}))
			res := srv.Client().Do(t, requestResetDoc, map[string]any{"e": addr})
			wantCode(t, res, "TOO_MANY_REQUESTS")
			answers[addr] = string(res.Body)
		}
		if answers[known] != answers[unknown] {
			t.Errorf("throttled answers differ:\n%s\n%s", answers[known], answers[unknown])
		}
		wantFieldError(t, srv.Client().Do(t, requestResetDoc, map[string]any{"e": "not an address"}), "email", "")
	})
	t.Run("notify", func(t *testing.T) {
		srv, smtp := mailSetup(t, apptest.Backends[0], map[string]string{"PASSWORD_RESET_NOTIFY_UNKNOWN": "true"})
		unknown := apptest.UniqueEmail("nobody")
		wantOK(t, srv.Client().Do(t, requestResetDoc, map[string]any{"e": unknown}))
		m := waitMail(t, smtp, unknown, 1)
		if m.Code() != "" || len(m.Links()) > 0 && strings.Contains(m.Text, "token=") {
			t.Errorf("the unknown-address notice carries a secret:\n%s", m.Text)
		}
		if !strings.Contains(m.Text, "no account uses it") {
			t.Errorf("unexpected notice:\n%s", m.Text)
		}
	})
}

// TestEmailVerification: optional (the default) sends a mail at sign-up
// and lets the account sign in; the code or the link verifies it, and
// the access token's email_verified claim follows. required refuses the
// sign-in of an unverified account with EMAIL_NOT_VERIFIED and mails a
// fresh link.
func TestEmailVerification(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		t.Run("optional", func(t *testing.T) {
			srv, smtp := mailSetup(t, b, nil)
			email := apptest.UniqueEmail("verify")
			c := srv.Client()
			p := c.SignUp(t, email, flowPassword)
			if cl := claims(t, p.AccessToken); cl["email_verified"] != false {
				t.Errorf("email_verified claim at sign-up = %v, want false", cl["email_verified"])
			}
			m := waitMail(t, smtp, email, 1)
			if _, action, _ := linkParams(t, m); action != "verify-email" {
				t.Errorf("action %q", action)
			}
			var me struct {
				Me struct {
					EmailVerified   bool
					EmailVerifiedAt *string
				}
			}
			c.Do(t, meVerifiedDoc, nil).Decode(t, &me)
			if me.Me.EmailVerified || me.Me.EmailVerifiedAt != nil {
				t.Fatalf("verified before the mail was read: %+v", me.Me)
			}
			// sendVerificationEmail voids the first mail.
			wantOK(t, c.Do(t, sendVerifyDoc, nil))
			second := waitMail(t, smtp, email, 2)
			wantFieldError(t, srv.Client().Do(t, verifyDoc, map[string]any{"e": email, "c": mailCode(t, m)}), "code", "")
			wantOK(t, srv.Client().Do(t, verifyDoc, map[string]any{"e": email, "c": mailCode(t, second)}))
			c.Do(t, meVerifiedDoc, nil).Decode(t, &me)
			if !me.Me.EmailVerified || me.Me.EmailVerifiedAt == nil {
				t.Fatalf("not verified after the code: %+v", me.Me)
			}
			oneEvent(t, dbEvents(t, srv), "user.email_verified", uuid.MustParse(p.User.ID))
			if cl := claims(t, mustRefresh(t, c, *p.RefreshToken).AccessToken); cl["email_verified"] != true {
				t.Errorf("email_verified claim after verification = %v", cl["email_verified"])
			}
			// Verified: nothing more to send.
			wantOK(t, c.Do(t, sendVerifyDoc, nil))
		})
		t.Run("required", func(t *testing.T) {
			srv, smtp := mailSetup(t, b, map[string]string{"EMAIL_VERIFICATION": "required"})
			email := apptest.UniqueEmail("required")
			srv.Client().SignUp(t, email, flowPassword)
			waitMail(t, smtp, email, 1)
			signIn := func(pw string) *apptest.Response {
				return srv.Client().Do(t, signInDoc, map[string]any{"in": map[string]any{"email": email, "password": pw}})
			}
			// A wrong password says nothing about verification.
			wantCode(t, signIn("wrong password here"), "UNAUTHENTICATED")
			res := signIn(flowPassword)
			wantCode(t, res, "EMAIL_NOT_VERIFIED")
			fresh := waitMail(t, smtp, email, 2)
			_, _, tok := linkParams(t, fresh)
			wantOK(t, srv.Client().Do(t, verifyDoc, map[string]any{"t": tok}))
			wantOK(t, signIn(flowPassword))
			wantFieldError(t, srv.Client().Do(t, verifyDoc, map[string]any{"t": tok}), "token", "wrong or has expired")
		})
	})
}

// TestEmailChange: the new address gets a code, the old one a notice; the
// change happens at confirmation and leaves the address verified. An
// address taken by another account gets the same answer (and a mail
// saying so); updateProfile no longer changes the email.
func TestEmailChange(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv, smtp := mailSetup(t, b, nil)
		oldAddr, newAddr, taken := apptest.UniqueEmail("old"), apptest.UniqueEmail("new"), apptest.UniqueEmail("taken")
		c := srv.Client()
		me := c.SignUp(t, oldAddr, flowPassword)
		srv.Client().SignUp(t, taken, flowPassword)
		waitMail(t, smtp, oldAddr, 1)

		wantFieldError(t, c.Do(t, `mutation($e: String) { updateProfile(input: {email: $e}) { email } }`, map[string]any{"e": newAddr}),
			"email", "requestEmailChange")
		wantCode(t, c.Do(t, requestChangeDoc, map[string]any{"e": newAddr, "p": "not my password"}), "UNAUTHENTICATED")

		answers := map[string]string{}
		for _, addr := range []string{taken, newAddr} {
			answers[addr] = string(c.Do(t, requestChangeDoc, map[string]any{"e": addr, "p": flowPassword}).Body)
		}
		if answers[taken] != answers[newAddr] || answers[taken] != `{"data":{"requestEmailChange":true}}` {
			t.Errorf("free and taken addresses answered differently:\n%s\n%s", answers[newAddr], answers[taken])
		}
		exists := waitMail(t, smtp, taken, 2)
		if exists.Code() != "" || !strings.Contains(exists.Text, "already belongs") {
			t.Errorf("the taken address should get the account-exists mail:\n%s", exists.Text)
		}
		m := waitMail(t, smtp, newAddr, 1)
		// Two notices to the old address (one per request).
		notice := waitMail(t, smtp, oldAddr, 3)
		if notice.Code() != "" || !strings.Contains(notice.Text, newAddr) {
			t.Errorf("notice to the old address:\n%s", notice.Text)
		}
		// A code needs the signed-in user; a link does not.
		wantCode(t, srv.Client().Do(t, confirmChangeDoc, map[string]any{"c": mailCode(t, m)}), "UNAUTHENTICATED")
		var out struct {
			ConfirmEmailChange struct {
				Email         string
				EmailVerified bool
			}
		}
		c.Do(t, confirmChangeDoc, map[string]any{"c": mailCode(t, m)}).Decode(t, &out)
		if out.ConfirmEmailChange.Email != newAddr || !out.ConfirmEmailChange.EmailVerified {
			t.Fatalf("after confirm: %+v", out.ConfirmEmailChange)
		}
		if ev := oneEvent(t, dbEvents(t, srv), "user.email_changed", uuid.MustParse(me.User.ID)); ev.Details["verified"] != true {
			t.Errorf("email_changed details %v", ev.Details)
		}
		srv.Client().SignIn(t, newAddr, flowPassword)
		wantCode(t, srv.Client().Do(t, signInDoc, map[string]any{"in": map[string]any{"email": oldAddr, "password": flowPassword}}), "UNAUTHENTICATED")

		// A race for an address is settled at confirmation: CONFLICT.
		race := apptest.UniqueEmail("race")
		wantOK(t, c.Do(t, requestChangeDoc, map[string]any{"e": race, "p": flowPassword}))
		_, _, tok := linkParams(t, waitMail(t, smtp, race, 1))
		srv.Client().SignUp(t, race, flowPassword)
		wantCode(t, srv.Client().Do(t, confirmChangeDoc, map[string]any{"t": tok}), "CONFLICT")
	})
}

// TestOutboxSurvivesRestart: mails queued while the SMTP server is down
// survive a restart of gqlauth and are delivered once it comes up, each
// exactly once.
func TestOutboxSurvivesRestart(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		smtp := smtptest.New(t, smtptest.Options{Down: true})
		cfg := apptest.Config(t, b, map[string]string{"MAIL_URL": smtp.URL(), "MAIL_RETRY_BACKOFF": "50ms"})
		srv := apptest.Start(t, cfg)
		email := apptest.UniqueEmail("restart")
		srv.Client().SignUp(t, email, flowPassword)
		wantOK(t, srv.Client().Do(t, requestResetDoc, map[string]any{"e": email}))
		time.Sleep(300 * time.Millisecond) // a few failed attempts
		srv.Close()

		srv = apptest.Start(t, cfg)
		if err := smtp.Start(); err != nil {
			t.Fatal(err)
		}
		waitMail(t, smtp, email, 2)
		time.Sleep(500 * time.Millisecond) // room for a duplicate to show
		got := smtp.To(email)
		if len(got) != 2 {
			t.Fatalf("%d mails, want exactly 2 (verification, reset)", len(got))
		}
		// Retries may have swapped their order.
		var tok string
		for _, m := range got {
			if _, action, tk := linkParams(t, m); action == "reset-password" {
				tok = tk
			}
		}
		var out struct{ ResetPassword apptest.Payload }
		srv.Client().Do(t, resetDoc, map[string]any{"t": tok, "p": newPassword}).Decode(t, &out)
	})
}

// TestTwoInstancesDeliverOnce: two gqlauth instances on one PostgreSQL
// database queue and deliver mails; each arrives exactly once.
func TestTwoInstancesDeliverOnce(t *testing.T) {
	b := apptest.Backends[1]
	smtp := smtptest.New(t, smtptest.Options{})
	cfg := apptest.Config(t, b, map[string]string{"MAIL_URL": smtp.URL(), "MAIL_RETRY_BACKOFF": "50ms"})
	one, two := apptest.Start(t, cfg), apptest.Start(t, cfg)
	const n = 12
	for i := range n {
		srv := one
		if i%2 == 1 {
			srv = two
		}
		srv.Client().SignUp(t, apptest.UniqueEmail("twice"), flowPassword)
	}
	smtp.Wait(t, n, mailWait)
	time.Sleep(500 * time.Millisecond)
	seen := map[string]int{}
	for _, m := range smtp.Messages() {
		seen[m.MessageID]++
	}
	if len(smtp.Messages()) != n || len(seen) != n {
		t.Fatalf("%d mails with %d Message-IDs, want %d each", len(smtp.Messages()), len(seen), n)
	}
}

// TestPasswordPolicy: new passwords follow the policy (common and
// context-derived ones refused with the documented reasons; length in
// code points), a passphrase longer than bcrypt's 72 bytes counts in full,
// and old hashes are upgraded at sign-in.
func TestPasswordPolicy(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		cfg := apptest.Config(t, b, map[string]string{"EMAIL_VERIFICATION": "off"})
		srv := apptest.Start(t, cfg)
		signUp := func(email, pw string) *apptest.Response {
			return srv.Client().Do(t, signUpDoc, map[string]any{"in": map[string]any{"email": email, "password": pw}})
		}
		wantFieldError(t, signUp(apptest.UniqueEmail("p"), "password1"), "password", "is too common")
		wantFieldError(t, signUp(apptest.UniqueEmail("p"), "Dragon2024!"), "password", "is too common")
		wantFieldError(t, signUp(apptest.UniqueEmail("p"), "gqlauth!"), "password", "must not be based on")
		wantFieldError(t, signUp("mallory.kowalski@example.com", "mallory.kowalski"), "password", "must not be based on")
		wantFieldError(t, signUp(apptest.UniqueEmail("p"), "ünï"), "password", "must be at least 8 characters")
		// 8 code points of 2 bytes each: long enough.
		wantOK(t, signUp(apptest.UniqueEmail("p"), "ŵŷźžƀƃƈƌ"))

		long := strings.Repeat("long passphrase ", 7) + "A" // 113 bytes
		email := apptest.UniqueEmail("long")
		wantOK(t, signUp(email, long))
		srv.Client().SignIn(t, email, long)
		// The bytes past the 72nd count.
		wantCode(t, srv.Client().Do(t, signInDoc, map[string]any{"in": map[string]any{"email": email, "password": long[:len(long)-1] + "B"}}), "UNAUTHENTICATED")

		// changePassword follows the policy.
		c := srv.Client()
		c.SignIn(t, email, long)
		wantFieldError(t, c.Do(t, `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { accessToken } }`,
			map[string]any{"c": long, "n": "qwertyuiop"}), "newPassword", "is too common")

		// A plain bcrypt hash (before the pre-hash) still verifies and is
		// upgraded at the next sign-in.
		ctx := context.Background()
		legacy := apptest.UniqueEmail("legacy")
		srv.Client().SignUp(t, legacy, flowPassword)
		plain, _ := bcryptHash(flowPassword)
		srv.DB.Client.User.Update().Where(user.Email(legacy)).SetPasswordHash(plain).ExecX(ctx)
		srv.Client().SignIn(t, legacy, flowPassword)
		u := srv.DB.Client.User.Query().Where(user.Email(legacy)).OnlyX(ctx)
		if !strings.HasPrefix(u.PasswordHash, "$gqlauth1$") {
			t.Errorf("the plain bcrypt hash was not upgraded: %.12s…", u.PasswordHash)
		}
		// Raising BCRYPT_COST upgrades at the next sign-in too.
		srv.Close()
		cfg.BcryptCost = 5
		srv = apptest.Start(t, cfg)
		srv.Client().SignIn(t, legacy, flowPassword)
		u = srv.DB.Client.User.Query().Where(user.Email(legacy)).OnlyX(ctx)
		if !strings.Contains(u.PasswordHash, "$05$") {
			t.Errorf("hash not upgraded to cost 5: %.16s…", u.PasswordHash)
		}
	})
}

// TestEmailFlowsOff: EMAIL_VERIFICATION=off answers the flows FORBIDDEN,
// sends no mail, and lets updateProfile change the email (unverified).
func TestEmailFlowsOff(t *testing.T) {
	srv, smtp := mailSetup(t, apptest.Backends[0], map[string]string{"EMAIL_VERIFICATION": "off"})
	email := apptest.UniqueEmail("off")
	c := srv.Client()
	c.SignUp(t, email, flowPassword)
	wantCode(t, c.Do(t, requestResetDoc, map[string]any{"e": email}), "FORBIDDEN")
	wantCode(t, c.Do(t, sendVerifyDoc, nil), "FORBIDDEN")
	next := apptest.UniqueEmail("off2")
	wantOK(t, c.Do(t, `mutation($e: String) { updateProfile(input: {email: $e}) { email } }`, map[string]any{"e": next}))
	time.Sleep(200 * time.Millisecond)
	if n := len(smtp.Messages()); n != 0 {
		t.Errorf("%d mails sent with EMAIL_VERIFICATION=off", n)
	}
	if res, _ := http.Get(srv.HTTP.URL + "/auth/email"); res.StatusCode != http.StatusNotFound {
		t.Errorf("the link page is served with the flows off: %d", res.StatusCode)
	}
}

// bcryptHash is a hash as gqlauth stored them before the pre-hash.
func bcryptHash(pw string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(pw), 4)
	return string(b), err
}

// TestPasswordResetTimingUnknownVsKnown compares the time of
// requestPasswordReset for an address with an account and one without,
// as TestSignInTimingUnknownVsKnown does for sign-in: samples
// interleaved, medians compared, within a factor of two either way. The
// mail leaves with the worker, so only the request's own work counts.
func TestPasswordResetTimingUnknownVsKnown(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], map[string]string{"EMAIL_RATE_LIMIT": "0"})
	known := apptest.UniqueEmail("timing")
	srv.Client().SignUp(t, known, flowPassword)
	c := srv.Client()
	measure := func(email string) time.Duration {
		start := time.Now()
		wantOK(t, c.Do(t, requestResetDoc, map[string]any{"e": email}))
		return time.Since(start)
	}
	measure(known)
	measure(apptest.UniqueEmail("nobody"))
	const samples = 51
	var k, u []time.Duration
	for i := range samples {
		if i%2 == 0 {
			k = append(k, measure(known))
			u = append(u, measure(apptest.UniqueEmail("nobody")))
		} else {
			u = append(u, measure(apptest.UniqueEmail("nobody")))
			k = append(k, measure(known))
		}
	}
	mk, mu := median(k), median(u)
	ratio := float64(mu) / float64(mk)
	t.Logf("median requestPasswordReset: known %v, unknown %v, ratio %.2f", mk, mu, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("unknown/known median ratio %.2f is outside [0.5, 2]: the reset request reveals which accounts exist", ratio)
	}
}
