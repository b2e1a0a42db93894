// Package app assembles gqlauth from its configuration: database, deny
// list, services and HTTP handler. It is the one place that builds the
// server; main and the end-to-end tests both use it.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/auth"
	"github.com/gqlauth/gqlauth/internal/config"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/metrics"
	"github.com/gqlauth/gqlauth/internal/ratelimit"
	"github.com/gqlauth/gqlauth/internal/request"
	"github.com/gqlauth/gqlauth/internal/server"
	"github.com/gqlauth/gqlauth/internal/token"
)

// App is a running gqlauth, minus the listener.
type App struct {
	Config *config.Config
	DB     *database.DB
	Redis  *redis.Client // nil without REDIS_URL
	Deny   token.DenyList
	// Keys are the signing keys in use, reloaded from KeyStore every
	// JWT_KEYS_REFRESH_INTERVAL until Close.
	Keys     *token.KeySet
	KeyStore *token.KeyStore
	Auth     *auth.Service
	Handler  http.Handler
	Log      *slog.Logger

	// Metrics are the Prometheus metrics; nil when METRICS_ENABLED=false.
	Metrics *metrics.Metrics
	// MetricsHandler serves /metrics on the separate METRICS_ADDR
	// listener; nil when metrics are off or on the main handler.
	MetricsHandler http.Handler
	// draining is set by BeginShutdown; /readyz then answers 503.
	draining atomic.Bool
	// stop ends the background work New started (the key refresh).
	stop context.CancelFunc
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
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Settings{StatementTimeout: cfg.DatabaseStatementTimeout}, dbOpts...)
	if err != nil {
		return nil, err
	}
	a.DB = db
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
	if cfg.MetricsEnabled {
		a.Metrics = metrics.New(db.SQL)
	}
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("REDIS_URL: %v", err)
		}
		// Every authenticated request waits on Redis: when it is down,
		// answer SERVICE_UNAVAILABLE within about a second instead of
		// go-redis's default several seconds of retries. REDIS_URL query
		// parameters (dial_timeout, read_timeout, …) still win.
		if opts.DialTimeout == 0 {
			opts.DialTimeout = time.Second
		}
		if opts.ReadTimeout == 0 {
			opts.ReadTimeout = time.Second
		}
		if opts.WriteTimeout == 0 {
			opts.WriteTimeout = time.Second
		}
		if opts.MaxRetries == 0 {
			opts.MaxRetries = 1
		}
		a.Redis = redis.NewClient(opts)
		if err := a.Redis.Ping(ctx).Err(); err != nil {
			// Start anyway: authenticated requests fail closed until
			// Redis answers, and recover without a restart.
			log.Warn("redis is unreachable; authenticated requests will fail until it answers", "error", err)
		}
		a.Deny = token.NewRedisDenyList(a.Redis, cfg.RedisKeyPrefix, cfg.AccessTokenTTL+token.Leeway)
	} else {
		a.Deny = token.NewMemoryDenyList(cfg.AccessTokenTTL + token.Leeway)
	}
	if a.Metrics != nil {
		a.Deny = token.Observe(a.Deny, a.Metrics)
	}
	lockout, authRate := throttles(cfg, a.Redis)
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
	var bg context.Context
	bg, a.stop = context.WithCancel(context.WithoutCancel(ctx))
	go a.Keys.Run(bg, cfg.JWTKeysRefreshInterval, func(ctx context.Context) error {
		_, err := a.KeyStore.RevokeRetired(ctx)
		return err
	})
	issuer := token.NewIssuer(a.Keys, token.IssuerSettings{
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, ClientID: cfg.ClientID(), TTL: cfg.AccessTokenTTL,
	})
	a.Auth, err = auth.NewService(db.Client, issuer, a.Deny, auth.Settings{
		BcryptCost:         cfg.BcryptCost,
		RefreshTokenTTL:    cfg.RefreshTokenTTL,
		SessionMaxLifetime: cfg.SessionMaxLifetime,
		RefreshReuseGrace:  cfg.RefreshReuseGrace,
		Cookies: auth.CookieSettings{
			RefreshName: cfg.RefreshCookieName,
			Secure:      cfg.Secure(),
			SameSite:    cfg.SameSite(),
			Domain:      cfg.CookieDomain,
			CSRFKey:     csrfKey(cfg, dk),
		},
		Lockout: lockout,
	}, log)
	if err != nil {
		a.Close()
		return nil, err
	}
	if a.Metrics != nil {
		a.Auth.SetRecorder(a.Metrics)
		if cfg.MetricsAddr != "" {
			a.MetricsHandler = server.MetricsHandler(a.Metrics.Handler(), cfg.MetricsToken)
		}
	}
	if cfg.MetricsEnabled && !cfg.MetricsOnMainPort() && cfg.MetricsAddr == "" {
		log.Warn("metrics are not served: in production /metrics needs METRICS_ADDR (a listener of its own) or METRICS_TOKEN")
	}
	deps := server.Deps{Config: cfg, Auth: a.Auth, Log: log, AuthRate: authRate,
		SQL: db.SQL, Metrics: a.Metrics, Draining: a.draining.Load, TrustedDocuments: trusted,
		Keys: a.Keys, Authenticate: a.authenticate}
	if a.Redis != nil {
		deps.Redis = a.Redis
	}
	a.Handler = server.New(deps)
	return a, nil
}

// authenticate answers the forward-auth endpoint through the auth
// service's bearer-token check.
func (a *App) authenticate(ctx context.Context, bearer string) (server.Identity, error) {
	id, err := a.Auth.Identify(ctx, bearer)
	if err != nil {
		return server.Identity{}, err
	}
	return server.Identity{UserID: id.UserID, SessionID: id.SessionID, Role: id.Role, Email: id.Email}, nil
}

// throttles builds the sign-in lockout and the per-client rate limit of
// credential fields: in Redis when there is one (shared by every
// instance), else in process. A zero setting turns each off.
func throttles(cfg *config.Config, rdb *redis.Client) (auth.Lockout, server.ClientLimiter) {
	var counter ratelimit.Counter = ratelimit.NewMemoryCounter()
	if rdb != nil {
		counter = ratelimit.NewRedisCounter(rdb, cfg.RedisKeyPrefix)
	}
	var lockout auth.Lockout
	if cfg.LoginMaxFailures > 0 {
		lockout = ratelimit.NewLockout(counter, cfg.LoginMaxFailures, cfg.LoginFailureWindow)
	}
	var buckets server.ClientLimiter
	switch {
	case cfg.RateLimitAuth == 0:
	case rdb != nil:
		buckets = ratelimit.NewRedisBuckets(rdb, cfg.RedisKeyPrefix, cfg.RateLimitAuth)
	default:
		buckets = ratelimit.NewMemoryBuckets(cfg.RateLimitAuth)
	}
	return lockout, buckets
}

// RunHousekeeping deletes old refresh tokens every interval until ctx ends.
func (a *App) RunHousekeeping(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := a.Auth.DeleteOldTokens(ctx, a.Config.RefreshTokenRetention)
		if err != nil && ctx.Err() == nil {
			a.Log.Error("housekeeping failed", "error", err)
		} else if n > 0 {
			a.Log.Info("housekeeping deleted old refresh tokens", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// BeginShutdown marks the app as stopping: /readyz answers 503 from now
// on, while requests are still served until the listener closes.
func (a *App) BeginShutdown() { a.draining.Store(true) }

// Close stops the key refresh and releases the database and Redis connections.
func (a *App) Close() error {
	if a.stop != nil {
		a.stop()
	}
	if a.Redis != nil {
		a.Redis.Close()
	}
	return a.DB.Close()
}
