package app

import (
	"context"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/internal/authn"
	"github.com/gqlauth/gqlauth/internal/authn/totp"
	"github.com/gqlauth/gqlauth/internal/config"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/datakey"
	"github.com/gqlauth/gqlauth/internal/mail"
	"github.com/gqlauth/gqlauth/internal/ratelimit"
)

// openMailer builds the mail system from cfg and starts its outbox worker
// until bg ends. The email flows of issue 14 share it.
func openMailer(bg context.Context, cfg *config.Config, db *database.DB, log *slog.Logger) (*mail.Mailer, error) {
	m, err := mail.New(mail.Settings{
		URL: cfg.MailURL, From: cfg.MailSender(), AppURL: cfg.AppURL, Timeout: cfg.MailTimeout,
		TemplatesDir: cfg.MailTemplatesDir, MaxAttempts: cfg.MailMaxAttempts, RetryBackoff: cfg.MailRetryBackoff,
		Production: cfg.Production(),
	}, db.Client, db.Dialect, log)
	if err != nil {
		return nil, err
	}
	go m.Outbox.Run(bg)
	return m, nil
}

// newMFA builds the second-factor service: TOTP secrets sealed under
// their own subkey of DATA_ENCRYPTION_KEY, wrong codes counted per factor
// (MFA_MAX_FAILURES within LOGIN_FAILURE_WINDOW) in Redis when there is
// one, else in process.
func newMFA(cfg *config.Config, a *App, dk *datakey.Key, rdb *redis.Client, notices authn.Notices) *authn.MFA {
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
		Log:       a.Log,
	}, authn.MFASettings{Required: cfg.MFARequired, ReauthMaxAge: cfg.ReauthMaxAge})
}
