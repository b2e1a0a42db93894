package account

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"time"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/authn/emailcode"
	"github.com/gqlauth/gqlauth/internal/mail"
)

// The actions a mailed link names (#action=…&token=…), for the page at
// APP_URL + EMAIL_LINK_PATH.
const (
	ActionVerifyEmail        = "verify-email"
	ActionResetPassword      = "reset-password"
	ActionConfirmEmailChange = "confirm-email-change"
)

// errFlowsOff answers the email flows when EMAIL_VERIFICATION=off.
var errFlowsOff = apierr.New(apierr.Forbidden, "the email flows are turned off on this server (EMAIL_VERIFICATION=off)")

// flowsOn reports whether the email flows are on.
func (s *Service) flowsOn() bool { return s.flows.Verification != VerificationOff }

// Required reports whether signing in waits for a verified address
// (EMAIL_VERIFICATION=required); authn.SignIns asks.
func (s *Service) Required() bool { return s.flows.Verification == VerificationRequired }

// mayMail counts one mail with a link or code to address, and refuses it
// (TOO_MANY_REQUESTS) past EMAIL_RATE_LIMIT an hour. It counts every
// address alike, with or without an account, so that its answer tells
// nothing about accounts. The key is a hash: addresses stay out of Redis.
func (s *Service) mayMail(ctx context.Context, address string) error {
	if s.mailLimit == nil {
		return nil
	}
	sum := sha256.Sum256([]byte(address))
	retry, err := s.mailLimit.Begin(ctx, "mail:"+hex.EncodeToString(sum[:16]))
	if err != nil {
		return apierr.Wrap(apierr.ServiceUnavailable, "mail is unavailable; try again later", err)
	}
	if retry > 0 {
		return &apierr.Error{Code: apierr.TooManyRequests, Message: "too many mails to this address; try again later", RetryAfter: retry}
	}
	return nil
}

// link is the mailed link of a request: the token in the fragment, which
// browsers never send to a server (no access log, no Referer holds it).
func (s *Service) link(action, token string) string {
	return s.flows.LinkURL + "#" + url.Values{"action": {action}, "token": {token}}.Encode()
}

// greeting is how a mail greets u: first name, else username.
func greeting(u *ent.User) string {
	switch {
	case u.FirstName != nil:
		return *u.FirstName
	case u.Username != nil:
		return *u.Username
	}
	return ""
}

// issueAndQueue issues a request of kind for u, mailed to address, and
// queues its mail, in tx: the mail exists exactly when its token does.
func (s *Service) issueAndQueue(ctx context.Context, tx *ent.Tx, u *ent.User, kind emailcode.Kind, address string, ttl time.Duration) error {
	is, err := s.codes.Issue(ctx, tx, u.ID, kind, address, ttl)
	if err != nil {
		return err
	}
	var (
		mk     mail.Kind
		action string
		d      = mail.Data{Name: greeting(u), Code: is.Code, ExpiresIn: ttl}
	)
	switch kind {
	case emailcode.VerifyEmail:
		mk, action = mail.KindVerifyEmail, ActionVerifyEmail
	case emailcode.PasswordReset:
		mk, action = mail.KindPasswordReset, ActionResetPassword
	case emailcode.EmailChange:
		mk, action = mail.KindEmailChange, ActionConfirmEmailChange
		d.NewEmail = address
		if u.Email != nil {
			d.OldEmail = *u.Email
		}
	}
	d.Link = s.link(action, is.Token)
	_, err = s.mailer.Queue(ctx, tx, mk, address, d)
	return err
}

// notice queues a mail that carries no secret.
func (s *Service) notice(ctx context.Context, tx *ent.Tx, kind mail.Kind, to string, d mail.Data) error {
	_, err := s.mailer.Queue(ctx, tx, kind, to, d)
	return err
}

// resetURL is where a notice sends someone who should reset a password:
// the app's page for mail links, which can start one.
func (s *Service) resetURL() string { return s.flows.LinkURL + "#action=forgot-password" }
