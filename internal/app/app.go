// Package app assembles gqlauth from its configuration: database, deny
// list, services and HTTP handler. It is the one place that builds the
// server; main and the end-to-end tests both use it.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/graph"
	"github.com/gqlauth/gqlauth/internal/account"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/authn"
	"github.com/gqlauth/gqlauth/internal/authn/emailcode"
	"github.com/gqlauth/gqlauth/internal/authn/passkey"
	"github.com/gqlauth/gqlauth/internal/config"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/live"
	"github.com/gqlauth/gqlauth/internal/mail"
	"github.com/gqlauth/gqlauth/internal/metrics"
	"github.com/gqlauth/gqlauth/internal/password"
	"github.com/gqlauth/gqlauth/internal/ratelimit"
	"github.com/gqlauth/gqlauth/internal/redisx"
	"github.com/gqlauth/gqlauth/internal/request"
	"github.com/gqlauth/gqlauth/internal/server"
	"github.com/gqlauth/gqlauth/internal/session"
	"github.com/gqlauth/gqlauth/internal/token"
	"github.com/gqlauth/gqlauth/internal/webhook"
)

// App is a running gqlauth, minus the listener.
type App struct {
	Config *config.Config
	DB     *database.DB
	Redis  redis.UniversalClient // nil without Redis (REDIS_URL, REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS)
	Deny   token.DenyList
	// Keys are the signing keys in use, reloaded from KeyStore every
	// JWT_KEYS_REFRESH_INTERVAL until Close.
	Keys     *token.KeySet
	KeyStore *token.KeyStore
	// The services, as the GraphQL layer and the tests reach them.
	Accounts  *account.Service
	SignIns   *authn.SignIns
	Sessions  *session.Service
	Passwords *authn.Passwords
	// MFA is second factors and step-up.
	MFA *authn.MFA
	// Passkeys is the passkey flows; PasskeyChallenges their challenges
	// in the database when there is no Redis (nil with Redis).
	Passkeys          *authn.Passkeys
	PasskeyChallenges *passkey.DBChallenges
	// Audit is the audit trail; Webhooks its outbox (nil without
	// WEBHOOK_URLS); Live the live session events.
	Audit    *audit.Trail
	Webhooks *webhook.Outbox
	Live     *live.Hub
	// Mailer queues the mails of the email flows; nil when they are off
	// (EMAIL_VERIFICATION=off). RunMail delivers them.
	Mailer *mail.Mailer
	// Codes are the mailed one-time links and codes.
	Codes   *emailcode.Store
	Handler http.Handler
	Log     *slog.Logger

	// Metrics are the Prometheus metrics; nil when METRICS_ENABLED=false.
	Metrics *metrics.Metrics
	// MetricsHandler serves /metrics on the separate METRICS_ADDR
	// listener; nil when metrics are off or on the main handler.
	MetricsHandler http.Handler
	// draining is set by BeginShutdown; /readyz then answers 503.
	draining atomic.Bool
	// stop ends the background work New started (the key refresh).
	stop context.CancelFunc
	// stopWorkers ends the background workers (the webhook worker, the
	// live events' Redis subscriber); workers waits for them.
	stopWorkers context.CancelFunc
	workers     sync.WaitGroup
}

// New opens the database (migrating it), connects the deny list and
// builds the services and handler. dbOpts reach the ent client (tests use
// them to count SQL queries).
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, dbOpts ...ent.Option) (*App, error) {
	log = slog.New(request.LogHandler(log.Handler()))
	a := &App{Config: cfg, Log: log}
	// A manifest that does not match its documents stops the start
	// before anything is opened.
	trusted, err := server.LoadTrustedDocuments(cfg.TrustedDocuments, cfg.TrustedMode())
	if err != nil {
		return nil, err
	}
	if trusted != nil {
		log.Info("trusted documents loaded", "documents", trusted.Len(), "mode", cfg.TrustedMode())
	}
	db, err := OpenDatabase(ctx, cfg, log, dbOpts...)
	if err != nil {
		return nil, err
	}
	a.DB = db
	if cfg.MetricsEnabled {
		a.Metrics = metrics.New(db.SQL)
	}
	var redisDeny *token.RedisDenyList
	if a.Redis, err = redisx.New(cfg.Redis()); err != nil {
		db.Close()
		return nil, err
	}
	if a.Redis != nil {
		if err := a.Redis.Ping(ctx).Err(); err != nil {
			// Start anyway: authenticated requests fail closed until
			// Redis answers, and recover without a restart.
			log.Warn("redis is unreachable; authenticated requests will fail until it answers", "error", err)
		}
		redisDeny = token.NewRedisDenyList(a.Redis, cfg.RedisKeyPrefix, cfg.AccessTokenTTL+token.Leeway)
		a.Deny = redisDeny
	} else {
		a.Deny = token.NewMemoryDenyList(cfg.AccessTokenTTL + token.Leeway)
	}
	if a.Metrics != nil {
		a.Deny = token.Observe(a.Deny, a.Metrics)
	}
	lockout, authRate, mailLimit := throttles(cfg, a.Redis)
	dk, err := DataKey(cfg, log)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.KeyStore = NewKeyStore(db.Client, cfg, dk)
	if a.Keys, err = openKeys(ctx, a.KeyStore, cfg, log); err != nil {
		a.Close()
		return nil, err
	}
	issuer := token.NewIssuer(a.Keys, token.IssuerSettings{
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, ClientID: cfg.ClientID(), TTL: cfg.AccessTokenTTL,
	})
	hasher, err := password.NewHasher(cfg.BcryptCost, cfg.PasswordPepper)
	if err != nil {
		a.Close()
		return nil, err
	}
	pwPolicy, err := PasswordPolicy(cfg, log)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Passwords = authn.NewPasswords(hasher, lockout, log)
	a.Codes = emailcode.New(db.Client, nil)
	if cfg.MailFlows() {
		a.Mailer, err = mail.New(MailSettings(cfg), db.Client, db.Dialect, log)
		if err != nil {
			a.Close()
			return nil, err
		}
	}
	var (
		refreshes session.Recorder
		signIns   authn.Recorder
	)
	if a.Metrics != nil {
		refreshes, signIns = a.Metrics, a.Metrics
		if cfg.MetricsAddr != "" {
			a.MetricsHandler = server.MetricsHandler(a.Metrics.Handler(), cfg.MetricsToken)
		}
	}
	if err := a.buildAudit(cfg, log); err != nil {
		a.Close()
		return nil, err
	}
	// The refresh loop of every instance revokes the previous keys past
	// their retirement, recorded as gqlauth's own doing.
	a.KeyStore.RecordTo(KeyEvents(a.Audit, audit.ActorSystem))
	var bg context.Context
	bg, a.stop = context.WithCancel(context.WithoutCancel(ctx))
	go a.Keys.Run(bg, cfg.JWTKeysRefreshInterval, func(ctx context.Context) error {
		_, err := a.KeyStore.RevokeRetired(ctx)
		return err
	})
	a.Sessions = session.New(session.Deps{DB: db.Client, Tokens: issuer, Deny: a.Deny, Log: log, Metrics: refreshes, Audit: a.Audit, Dialect: db.Dialect}, SessionSettings(cfg))
	if redisDeny != nil {
		// The database holds every denial; Redis is its index, rebuilt
		// from the sessions when Redis loses data. Lookups fail closed
		// until the first check succeeds.
		redisDeny.Guard(a.Sessions, log)
		if err := redisDeny.Check(ctx); err != nil {
			log.Warn("deny list: cannot check the Redis index yet; authenticated requests fail until it answers", "error", err)
		}
		go redisDeny.Run(bg)
	}
	a.SignIns = authn.NewSignIns(db.Client, a.Passwords, a.Sessions, signIns, a.Audit)
	acc := account.Deps{DB: db.Client, ReadUser: db.ReadUser, Passwords: a.Passwords, Policy: pwPolicy, Sessions: a.Sessions,
		Mailer: a.Mailer, Codes: a.Codes, Flows: FlowSettings(cfg), Audit: a.Audit,
		ReauthMaxAge: cfg.ReauthMaxAge}
	if mailLimit != nil {
		acc.MailLimit = mailLimit
	}
	a.MFA = newMFA(cfg, a, dk, a.Redis)
	if a.Passkeys, err = a.newPasskeys(cfg, signIns); err != nil {
		a.Close()
		return nil, err
	}
	acc.SecondFactor = a.MFA
	a.Accounts = account.New(acc)
	a.SignIns.Verification = a.Accounts
	a.Passkeys.Verification = a.Accounts
	authenticator := authn.NewAuthenticator(db.Client, issuer, a.Deny)
	if cfg.MetricsEnabled && !cfg.MetricsOnMainPort() && cfg.MetricsAddr == "" {
		log.Warn("metrics are not served: in production /metrics needs METRICS_ADDR (a listener of its own) or METRICS_TOKEN")
	}
	resolver := &graph.Resolver{
		Accounts:           a.Accounts,
		SignIns:            a.SignIns,
		SessionService:     a.Sessions,
		MFA:                a.MFA,
		Passkeys:           a.Passkeys,
		Audit:              a.Audit,
		Live:               a.Live,
		RefreshTokenInBody: cfg.RefreshTokenInBody,
	}
	deps := server.Deps{Config: cfg, Resolver: resolver, Authenticate: authenticator.Lazy, Cookies: CookieSettings(cfg, csrfKey(cfg, dk)),
		Log: log, AuthRate: authRate,
		SQL: db.SQL, Metrics: a.Metrics, Draining: a.draining.Load, TrustedDocuments: trusted,
		Keys: a.Keys, ForwardAuth: forwardAuth(authenticator)}
	if a.Redis != nil {
		deps.Redis = a.Redis
	}
	a.Handler = server.New(deps)
	a.startWorkers()
	return a, nil
}

// buildAudit builds the audit trail with its webhook outbox and the live
// session events it feeds.
func (a *App) buildAudit(cfg *config.Config, log *slog.Logger) error {
	var (
		hooks   webhook.Recorder
		streams live.Recorder
	)
	if a.Metrics != nil {
		hooks, streams = a.Metrics, a.Metrics
	}
	hub := live.Deps{DB: a.DB.Client, Prefix: cfg.RedisKeyPrefix, Log: log, Metrics: streams}
	if a.Redis != nil {
		hub.Redis = a.Redis
	}
	a.Live = live.New(hub, live.Settings{MaxConnections: cfg.SSEMaxConnections, MaxPerUser: live.MaxPerUser})
	var err error
	a.Audit, a.Webhooks, err = AuditTrail(cfg, a.DB.Client, log, hooks, a.Live, a.Keys)
	return err
}

// AuditTrail builds the audit trail of cfg on db, with the webhook outbox
// when WEBHOOK_URLS is set (nil otherwise) and listener (nil: none) told
// of committed events; keys sign the CAEP Security Event Tokens at
// delivery (the command line, which delivers nothing, passes nil). The
// command line uses it too: its events queue webhooks that the server's
// worker delivers.
func AuditTrail(cfg *config.Config, db *ent.Client, log *slog.Logger, hooks webhook.Recorder, listener audit.Listener, keys webhook.CurrentKey) (*audit.Trail, *webhook.Outbox, error) {
	deps := audit.Deps{DB: db, Listener: listener, Refreshes: cfg.AuditRefreshes, Log: log}
	var outbox *webhook.Outbox
	if len(cfg.WebhookURLs) > 0 {
		key, err := cfg.WebhookKey()
		if err != nil {
			return nil, nil, fmt.Errorf("WEBHOOK_SECRET: %v", err)
		}
		outbox, err = webhook.New(webhook.Deps{DB: db, Log: log, Metrics: hooks, Keys: keys}, webhook.Settings{
			URLs: cfg.WebhookURLs, Key: key, Events: cfg.WebhookEvents, Format: cfg.WebhookFormat,
			MaxAttempts: cfg.WebhookMaxAttempts, RetryBase: cfg.WebhookRetryBase, Timeout: cfg.WebhookTimeout,
			Issuer: cfg.JWTIssuer,
		})
		if err != nil {
			return nil, nil, err
		}
		deps.Outbox = outbox
	}
	return audit.New(deps), outbox, nil
}

// startWorkers runs the webhook worker and the live events' Redis
// subscriber until Close.
func (a *App) startWorkers() {
	ctx, cancel := context.WithCancel(context.Background())
	a.stopWorkers = cancel
	a.workers.Go(func() { a.Webhooks.Run(ctx) })
	a.workers.Go(func() { a.Live.Run(ctx) })
}

// OpenDatabase opens the database of cfg and applies pending migrations
// when AUTO_MIGRATE says so: all that the command line's account and key
// commands need.
func OpenDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger, dbOpts ...ent.Option) (*database.DB, error) {
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Settings{StatementTimeout: cfg.DatabaseStatementTimeout, MaxConns: cfg.DatabaseMaxConns}, dbOpts...)
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
		applied, err := db.Migrate(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		if len(applied) > 0 {
			log.Info("applied database migrations", "files", applied)
		}
	}
	return db, nil
}

// forwardAuth answers the forward-auth endpoint /auth/verify through the
// bearer-token check every authenticated request makes.
func forwardAuth(a *authn.Authenticator) server.Authenticate {
	return func(ctx context.Context, bearer string) (server.Identity, error) {
		v, err := a.Authenticate(ctx, bearer)
		if err != nil {
			return server.Identity{}, err
		}
		return server.Identity{UserID: v.UserID.String(), SessionID: v.SessionID.String(), Role: string(v.Role), Email: v.Claims.Email, AAL: v.Claims.Level()}, nil
	}
}

// throttles builds the sign-in lockout, the per-client rate limit of
// credential fields and the per-address limit of mails: in Redis when
// there is one (shared by every instance), else in process. A zero
// setting turns each off (nil).
func throttles(cfg *config.Config, rdb redis.UniversalClient) (authn.Lockout, graph.ClientLimiter, *ratelimit.Lockout) {
	var counter ratelimit.Counter = ratelimit.NewMemoryCounter()
	if rdb != nil {
		counter = ratelimit.NewRedisCounter(rdb, cfg.RedisKeyPrefix)
	}
	var lockout authn.Lockout
	if cfg.LoginMaxFailures > 0 {
		lockout = ratelimit.NewLockout(counter, cfg.LoginMaxFailures, cfg.LoginFailureWindow)
	}
	var buckets graph.ClientLimiter
	switch {
	case cfg.RateLimitAuth == 0:
	case rdb != nil:
		buckets = ratelimit.NewRedisBuckets(rdb, cfg.RedisKeyPrefix, cfg.RateLimitAuth)
	default:
		buckets = ratelimit.NewMemoryBuckets(cfg.RateLimitAuth)
	}
	var mails *ratelimit.Lockout
	if cfg.EmailRateLimit > 0 {
		mails = ratelimit.NewLockout(counter, cfg.EmailRateLimit, time.Hour)
	}
	return lockout, buckets, mails
}

// DeleteOldEvents deletes the audit events and finished webhook
// deliveries older than AUDIT_RETENTION (0 keeps them).
func (a *App) DeleteOldEvents(ctx context.Context) {
	n, err := a.Audit.DeleteOld(ctx, a.Config.AuditRetention)
	if err == nil {
		_, err = a.Webhooks.DeleteOld(ctx, a.Config.AuditRetention)
	}
	if err != nil && ctx.Err() == nil {
		a.Log.Error("housekeeping of audit events failed", "error", err)
	} else if n > 0 {
		a.Log.Info("housekeeping deleted old audit events", "count", n)
	}
}

// PasswordPolicy is the password policy cfg sets: PASSWORD_MIN_LENGTH,
// and the Have I Been Pwned check when PASSWORD_BREACH_CHECK=hibp.
func PasswordPolicy(cfg *config.Config, log *slog.Logger) (*password.Policy, error) {
	set := password.PolicySettings{MinLength: cfg.PasswordMinLength}
	if cfg.PasswordBreachCheck == config.BreachCheckHIBP {
		hibp, err := password.NewHIBP(cfg.PasswordBreachAPIURL, cfg.PasswordBreachTimeout, nil)
		if err != nil {
			return nil, err
		}
		set.Breach = hibp
	}
	return password.NewPolicy(set, log)
}

// NewPasswords is the password credential of the command line: cfg's
// hasher, no lockout.
func NewPasswords(cfg *config.Config, log *slog.Logger) (*authn.Passwords, error) {
	hasher, err := password.NewHasher(cfg.BcryptCost, cfg.PasswordPepper)
	if err != nil {
		return nil, err
	}
	return authn.NewPasswords(hasher, nil, log), nil
}

// MailSettings are the mail settings cfg sets. The worker looks for due
// mails at least as often as the first retry backoff, so that a retry is
// not late by more than its wait.
func MailSettings(cfg *config.Config) mail.Settings {
	return mail.Settings{
		URL:          cfg.MailURL,
		From:         cfg.MailSender(),
		AppURL:       cfg.AppOrigin(),
		Timeout:      cfg.MailTimeout,
		TemplatesDir: cfg.MailTemplatesDir,
		MaxAttempts:  cfg.MailMaxAttempts,
		RetryBackoff: cfg.MailRetryBackoff,
		Production:   cfg.Production(),
		Outbox:       mail.OutboxSettings{PollInterval: min(5*time.Second, cfg.MailRetryBackoff)},
	}
}

// FlowSettings are the email flows' settings cfg sets.
func FlowSettings(cfg *config.Config) account.Flows {
	return account.Flows{
		Verification:     cfg.EmailVerification,
		EmailTokenTTL:    cfg.EmailTokenTTL,
		PasswordResetTTL: cfg.PasswordResetTTL,
		LinkURL:          cfg.AppOrigin() + cfg.EmailLinkPath,
		NotifyUnknown:    cfg.PasswordResetNotifyUnknown,
	}
}

// RunMail delivers the outbox's mails until ctx ends, then finishes the
// delivery in flight and returns (at once when the flows are off).
func (a *App) RunMail(ctx context.Context) {
	if a.Mailer != nil {
		a.Mailer.Outbox.Run(ctx)
	}
}

// RunHousekeeping deletes old refresh tokens, sessions, expired email tokens,
// audit events, stale factor enrollments and expired passkey challenges every interval until ctx ends.
func (a *App) RunHousekeeping(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := a.Sessions.DeleteOldTokens(ctx, a.Config.RefreshTokenRetention)
		if err != nil && ctx.Err() == nil {
			a.Log.Error("housekeeping failed", "error", err)
		} else if n > 0 {
			a.Log.Info("housekeeping deleted old refresh tokens", "count", n)
		}
		a.DeleteOldEvents(ctx)

		// Mailed links and codes are kept a day past their expiry.
		n, err = a.Codes.DeleteOld(ctx, time.Now().Add(-24*time.Hour))
		if err != nil && ctx.Err() == nil {
			a.Log.Error("housekeeping failed", "error", err)
		} else if n > 0 {
			a.Log.Info("housekeeping deleted expired email tokens", "count", n)
		}
		if n, err := a.MFA.DeleteStaleEnrollments(ctx); err != nil && ctx.Err() == nil {
			a.Log.Error("housekeeping failed", "error", err)
		} else if n > 0 {
			a.Log.Info("housekeeping deleted unverified factors", "count", n)
		}
		if a.PasskeyChallenges != nil {
			if n, err := a.PasskeyChallenges.DeleteExpired(ctx); err != nil && ctx.Err() == nil {
				a.Log.Error("housekeeping failed", "error", err)
			} else if n > 0 {
				a.Log.Info("housekeeping deleted expired passkey challenges", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SessionSettings are the session lifetimes cfg sets.
func SessionSettings(cfg *config.Config) session.Settings {
	return session.Settings{
		RefreshTokenTTL: cfg.RefreshTokenTTL,
		MaxLifetime:     cfg.SessionMaxLifetime,
		IdleTimeout:     cfg.SessionIdleTimeout,
		ReuseGrace:      cfg.RefreshReuseGrace,
	}
}

// CookieSettings are the session cookies cfg shapes, their CSRF values
// signed with csrf.
func CookieSettings(cfg *config.Config, csrf []byte) server.CookieSettings {
	return server.CookieSettings{
		RefreshName: cfg.RefreshCookieName,
		Secure:      cfg.Secure(),
		SameSite:    cfg.SameSite(),
		Domain:      cfg.CookieDomain,
		CSRFKey:     csrf,
	}
}

// BeginShutdown marks the app as stopping: /readyz answers 503 from now
// on, while requests are still served until the listener closes.
// Live session-event streams end now, so that their connections do not
// hold up the graceful shutdown; clients reconnect to another instance.
func (a *App) BeginShutdown() {
	a.draining.Store(true)
	if a.Live != nil {
		a.Live.Close()
	}
}

// Close stops the background work (the key refresh, the webhook worker,
// the live events' Redis subscriber) and releases the database and Redis
// connections.
func (a *App) Close() error {
	if a.stop != nil {
		a.stop()
	}
	if a.stopWorkers != nil {
		a.stopWorkers()
		a.workers.Wait()
	}
	if a.Live != nil {
		a.Live.Close()
	}
	if a.Redis != nil {
		a.Redis.Close()
	}
	return a.DB.Close()
}
