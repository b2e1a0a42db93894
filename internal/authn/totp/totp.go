// Package totp is the TOTP credential (RFC 6238, as authenticator apps
// expect it: SHA-1, 6 digits, 30 seconds): new secrets with their
// otpauth URI and QR code, sealed under DATA_ENCRYPTION_KEY, and the check
// of a code with one step of clock skew, the replay guard and the
// per-factor failure count. Factors themselves are internal/authn's.
package totp

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/factor"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/datakey"
)

// Purpose is the DATA_ENCRYPTION_KEY subkey label of TOTP secrets: a
// secret sealed for it never opens as anything else.
const Purpose = "gqlauth totp secrets v1"

const (
	period = 30 // seconds per step
	digits = otp.DigitsSix
	skew   = 1 // steps accepted either side of now
)

// Attempts counts wrong codes per factor (internal/ratelimit.Lockout with
// MFA_MAX_FAILURES): Begin is counted before a code is compared, so
// parallel guesses cannot get past the limit.
type Attempts interface {
	// Begin counts one attempt on key and returns 0 when it may go
	// ahead, else how long the key stays locked.
	Begin(ctx context.Context, key string) (time.Duration, error)
	// Reset forgets key's failed attempts after a success.
	Reset(ctx context.Context, key string) error
}

// Codes issues TOTP secrets and checks codes.
type Codes struct {
	box      *datakey.Box
	issuer   string
	attempts Attempts
	now      func() time.Time
}

// New returns the TOTP credential: secrets sealed in box (of Purpose),
// issuer named in the URIs (TOTP_ISSUER), wrong codes counted by attempts
// (nil: not counted), time read from now (nil: time.Now).
func New(box *datakey.Box, issuer string, attempts Attempts, now func() time.Time) *Codes {
	if now == nil {
		now = time.Now
	}
	return &Codes{box: box, issuer: issuer, attempts: attempts, now: now}
}

// Enrollment is a new secret: sealed for the factor row, and shown to the
// user once (base32, otpauth URI, QR code).
type Enrollment struct {
	Sealed []byte
	Secret string
	URI    string
	// QRCode is the URI as a PNG, in a data: URL.
	QRCode string
}

// NewSecret makes the secret of the factor id, for the account named
// account (an email or username, shown by the app beside the issuer).
func (c *Codes) NewSecret(id uuid.UUID, account string) (Enrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      c.issuer,
		AccountName: account,
		Period:      period,
		SecretSize:  20,
		Digits:      digits,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return Enrollment{}, fmt.Errorf("totp secret: %w", err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return Enrollment{}, fmt.Errorf("totp qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrollment{}, fmt.Errorf("totp qr code: %w", err)
	}
	return Enrollment{
		Sealed: c.box.Seal([]byte(key.Secret()), id[:]),
		Secret: key.Secret(),
		URI:    key.URL(),
		QRCode: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, nil
}

// ErrWrongCode is the answer to a code that is wrong, too old, or
// already used.
var ErrWrongCode = &apierr.Error{Code: apierr.BadUserInput, Message: "the code is wrong, expired or already used",
	Fields: map[string]string{"code": "is wrong, expired or already used"}}

// Check decides a code for f: counted first against f's failures (past
// MFA_MAX_FAILURES: TOO_MANY_REQUESTS with retryAfter, before any
// comparison), then compared for this step and one either side. The step
// it matches must be later than the last accepted one: the conditional
// UPDATE that records it lets exactly one of two concurrent uses of a
// code through. db may be a transaction's client.
func (c *Codes) Check(ctx context.Context, db *ent.Client, f *ent.Factor, code string) error {
	key := "mfa:factor:" + f.ID.String()
	if c.attempts != nil {
		retry, err := c.attempts.Begin(ctx, key)
		if err != nil {
			return apierr.Wrap(apierr.ServiceUnavailable, "code checks are unavailable; try again later", err)
		}
		if retry > 0 {
			return &apierr.Error{Code: apierr.TooManyRequests, Message: "too many wrong codes; try again later", RetryAfter: retry}
		}
	}
	secret, err := c.box.Open(f.Secret, f.ID[:])
	if err != nil {
		return fmt.Errorf("open totp secret of factor %s: %w", f.ID, err)
	}
	now := c.now()
	step, ok := match(string(secret), normalize(code), now)
	if !ok || step <= f.LastStep {
		return ErrWrongCode
	}
	n, err := db.Factor.Update().
		Where(factor.ID(f.ID), factor.LastStepLT(step)).
		SetLastStep(step).
		SetLastUsedAt(now).
		Save(ctx)
	if err != nil {
		return fmt.Errorf("record totp step: %w", err)
	}
	if n != 1 {
		return ErrWrongCode // a concurrent use of this code (or a later one) won
	}
	if c.attempts != nil {
		_ = c.attempts.Reset(ctx, key) // best effort: the count expires anyway
	}
	return nil
}

// normalize drops the spaces and dashes people type inside codes.
func normalize(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
}

// match compares code with the codes of the steps around now, in
// constant time each, and returns the step that matched.
func match(secret, code string, now time.Time) (int64, bool) {
	if len(code) != digits.Length() {
		return 0, false
	}
	cur := now.Unix() / period
	var found int64
	for s := cur - skew; s <= cur+skew; s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*period, 0), totp.ValidateOpts{
			Period: period, Digits: digits, Algorithm: otp.AlgorithmSHA1,
		})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = s
		}
	}
	return found, found != 0
}

// Code returns the code of secret at t: what an authenticator app shows
// (tests compute codes with it).
func Code(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: period, Digits: digits, Algorithm: otp.AlgorithmSHA1})
}
