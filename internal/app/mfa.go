package app

import (
	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/internal/authn"
	"github.com/gqlauth/gqlauth/internal/authn/passkey"
	"github.com/gqlauth/gqlauth/internal/authn/totp"
	"github.com/gqlauth/gqlauth/internal/config"
	"github.com/gqlauth/gqlauth/internal/datakey"
	"github.com/gqlauth/gqlauth/internal/ratelimit"
)

// newMFA builds the second-factor service: TOTP secrets sealed under
// their own subkey of DATA_ENCRYPTION_KEY, wrong codes counted per factor
// (MFA_MAX_FAILURES within LOGIN_FAILURE_WINDOW) in Redis when there is
// one, else in process.
// Its notices go through the email flows' mailer (none when
// EMAIL_VERIFICATION=off) and its events to the audit trail.
func newMFA(cfg *config.Config, a *App, dk *datakey.Key, rdb redis.UniversalClient) *authn.MFA {
	var notices authn.Notices
	if a.Mailer != nil {
		notices = a.Mailer
	}
	var counter ratelimit.Counter = ratelimit.NewMemoryCounter()
	if rdb != nil {
		counter = ratelimit.NewRedisCounter(rdb, cfg.RedisKeyPrefix)
	}
	var attempts totp.Attempts
	if cfg.MFAMaxFailures > 0 {
		attempts = ratelimit.NewLockout(counter, cfg.MFAMaxFailures, cfg.LoginFailureWindow)
	}
	return authn.NewMFA(authn.MFADeps{
		DB:        a.DB.Client,
		Codes:     totp.New(dk.Box(totp.Purpose), cfg.TOTPIssuer, attempts, nil),
		Attempts:  attempts,
		Passwords: a.Passwords,
		Sessions:  a.Sessions,
		Notices:   notices,
		Audit:     a.Audit,
		Log:       a.Log,
	}, authn.MFASettings{Required: cfg.MFARequired, ReauthMaxAge: cfg.ReauthMaxAge})
}

// newPasskeys builds the passkey flows of cfg's relying party
// (WEBAUTHN_*): challenges in Redis when there is one, else in the
// database (which housekeeping then cleans).
func (a *App) newPasskeys(cfg *config.Config, signIns authn.Recorder) (*authn.Passkeys, error) {
	var store passkey.Challenges
	if a.Redis != nil {
		store = passkey.NewRedisChallenges(a.Redis, cfg.RedisKeyPrefix)
	} else {
		a.PasskeyChallenges = passkey.NewDBChallenges(a.DB.Client, nil)
		store = a.PasskeyChallenges
	}
	c, err := passkey.New(passkey.Settings{RPID: cfg.PasskeyRPID(), RPName: cfg.PasskeyRPName(), Origins: cfg.PasskeyOrigins()}, store)
	if err != nil {
		return nil, err
	}
	return authn.NewPasskeys(a.MFA, c, signIns), nil
}
