// Package config reads gqlauth's settings from the environment (and a
// .env file in the working directory) into one typed struct. Nothing else
// in gqlauth reads environment variables: main calls Load once and hands
// the pieces each package needs.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/joho/godotenv"

	"github.com/gqlauth/gqlauth/internal/redisx"
)

// Config is every setting gqlauth has. The env tags name the variables;
// README.md lists every one in its configuration table for people
// (TestREADMEConfigurationIsComplete keeps the two in step).
type Config struct {
	// Port is the HTTP port the server listens on.
	Port int `env:"PORT" envDefault:"8080"`
	// AppEnv is "development" or "production"; production refuses weak settings.
	AppEnv string `env:"APP_ENV" envDefault:"development"`
	// DatabaseURL selects the database: postgres://… for PostgreSQL,
	// sqlite://path or file:path for SQLite.
	DatabaseURL string `env:"DATABASE_URL" envDefault:"sqlite://gqlauth.db"`
	// DatabaseStatementTimeout is the deadline of every database statement
	// (PostgreSQL's statement_timeout on each connection, and a context
	// deadline on every statement, SQLite's too); 0 turns it off.
	DatabaseStatementTimeout time.Duration `env:"DATABASE_STATEMENT_TIMEOUT" envDefault:"5s"`
	// DatabaseMaxConns caps this instance's open PostgreSQL connections;
	// 0 is the default, 8 per CPU and at most 32 (internal/database).
	// Several instances on one PostgreSQL need instances × this + headroom
	// ≤ max_connections (docs/operations.md).
	DatabaseMaxConns int `env:"DATABASE_MAX_CONNS" envDefault:"0"`

	// DataEncryptionKey (32 bytes, base64) seals the secrets gqlauth keeps
	// in its database, the signing keys' private keys first. Required in
	// production; in development one is made on the first start and kept
	// in a file beside the data (see internal/app).
	DataEncryptionKey string `env:"DATA_ENCRYPTION_KEY"`
	// JWTAccessSecret is the HS256 secret of deployments from before
	// signing keys: when set, it is imported as the legacy signing key
	// (current until the operator rotates), so that its tokens keep
	// working. New deployments leave it empty.
	JWTAccessSecret string `env:"JWT_ACCESS_SECRET"`
	// JWTClientID is the client_id claim of access tokens (RFC 9068);
	// empty means JWTIssuer.
	JWTClientID string `env:"JWT_CLIENT_ID"`
	// JWTKeysRefreshInterval is how often each instance reloads the
	// signing keys from the database, so a rotation or revocation made
	// elsewhere takes effect without a restart.
	JWTKeysRefreshInterval time.Duration `env:"JWT_KEYS_REFRESH_INTERVAL" envDefault:"30s"`
	// JWTKeyRetireAfter is how long a previous key keeps verifying after
	// it stopped signing, before it is revoked automatically; 0 means
	// AccessTokenTTL plus the 5s leeway, the least that refuses no
	// unexpired token.
	JWTKeyRetireAfter time.Duration `env:"JWT_KEY_RETIRE_AFTER"`
	// JWKSMaxAge is the Cache-Control max-age of the JWKS, and so how long
	// a standby key must be published before `gqlauth keys rotate` lets it sign.
	JWKSMaxAge time.Duration `env:"JWKS_MAX_AGE" envDefault:"10m"`
	// PublicURL is where clients reach gqlauth (https://auth.example.com),
	// for the jwks_uri of the discovery document; empty means the scheme
	// and host of each request.
	PublicURL string `env:"PUBLIC_URL"`
	// JWTIssuer is the iss claim of access tokens, checked on verification.
	JWTIssuer string `env:"JWT_ISSUER" envDefault:"gqlauth"`
	// JWTAudience is the aud claim of access tokens, checked on verification.
	JWTAudience string `env:"JWT_AUDIENCE" envDefault:"gqlauth"`
	// AccessTokenTTL is how long an access token is valid.
	AccessTokenTTL time.Duration `env:"JWT_ACCESS_EXPIRES_IN" envDefault:"15m"`
	// RefreshTokenTTL is how long a refresh token is valid.
	RefreshTokenTTL time.Duration `env:"JWT_REFRESH_EXPIRES_IN" envDefault:"7d"`
	// BcryptCost is the work factor of password hashes.
	BcryptCost int `env:"BCRYPT_COST" envDefault:"12"`

	// SessionMaxLifetime bounds a session from sign-in, however often it refreshes.
	SessionMaxLifetime time.Duration `env:"SESSION_MAX_LIFETIME" envDefault:"30d"`
	// SessionIdleTimeout ends a session that has not refreshed for that
	// long (RFC 9700 §4.14.2, ASVS 7.3.1); 0 turns it off.
	SessionIdleTimeout time.Duration `env:"SESSION_IDLE_TIMEOUT" envDefault:"7d"`
	// RefreshReuseGrace is how long a rotated refresh token may be presented
	// again and get the same successor (concurrent tabs, lost responses).
	RefreshReuseGrace time.Duration `env:"REFRESH_REUSE_GRACE" envDefault:"10s"`
	// RefreshTokenRetention is how long expired or revoked refresh tokens
	// are kept (for the user's session history) before housekeeping deletes them.
	RefreshTokenRetention time.Duration `env:"REFRESH_TOKEN_RETENTION" envDefault:"30d"`
	// RefreshTokenInBody decides whether AuthPayload.refreshToken is filled;
	// cookie-only deployments turn it off.
	RefreshTokenInBody bool `env:"REFRESH_TOKEN_IN_BODY" envDefault:"true"`

	// RedisURL selects the Redis deny list; empty (and no cluster or
	// sentinel) means the in-process one.
	RedisURL string `env:"REDIS_URL"`
	// RedisClusterAddrs are seed nodes of a Redis Cluster, instead of REDIS_URL.
	RedisClusterAddrs []string `env:"REDIS_CLUSTER_ADDRS" envSeparator:","`
	// RedisSentinelAddrs and RedisSentinelMaster name a master watched by
	// Sentinel, instead of REDIS_URL.
	RedisSentinelAddrs  []string `env:"REDIS_SENTINEL_ADDRS" envSeparator:","`
	RedisSentinelMaster string   `env:"REDIS_SENTINEL_MASTER"`
	// RedisSentinelPassword authenticates to the sentinels themselves.
	RedisSentinelPassword string `env:"REDIS_SENTINEL_PASSWORD"`
	// RedisUsername and RedisPassword authenticate to Redis (ACLs); they
	// override REDIS_URL's.
	RedisUsername string `env:"REDIS_USERNAME"`
	RedisPassword string `env:"REDIS_PASSWORD"`
	// RedisTLS turns TLS on for the cluster and sentinel modes (REDIS_URL
	// says it with rediss://).
	RedisTLS bool `env:"REDIS_TLS" envDefault:"false"`
	// RedisKeyPrefix starts every Redis key gqlauth writes.
	RedisKeyPrefix string `env:"REDIS_KEY_PREFIX" envDefault:"gqlauth:"`

	// RefreshCookieName is the name of the HttpOnly refresh-token cookie.
	RefreshCookieName string `env:"REFRESH_COOKIE_NAME" envDefault:"gqlauth_refresh"`
	// CookieSecure sets the Secure attribute; defaults to true in production.
	CookieSecure *bool `env:"COOKIE_SECURE"`
	// CookieSameSite is Strict, Lax or None.
	CookieSameSite string `env:"COOKIE_SAMESITE" envDefault:"Strict"`
	// CookieDomain is the Domain attribute of the cookies; empty means host-only.
	CookieDomain string `env:"COOKIE_DOMAIN"`
	// CORSAllowedOrigins may call gqlauth from a browser with credentials;
	// empty means same origin only.
	CORSAllowedOrigins []string `env:"CORS_ALLOWED_ORIGINS" envSeparator:","`

	// PlaygroundEnabled serves GraphiQL at /; defaults to true outside production.
	PlaygroundEnabled *bool `env:"PLAYGROUND_ENABLED"`
	// ExamplesEnabled serves the example single-page app at /examples/spa/;
	// defaults to true in development only.
	ExamplesEnabled *bool `env:"EXAMPLES_ENABLED"`
	// IntrospectionEnabled allows schema introspection; defaults to true outside production.
	IntrospectionEnabled *bool `env:"INTROSPECTION_ENABLED"`
	// SchemaEnabled serves the SDL at /schema.graphql; defaults to
	// IntrospectionEnabled, since the SDL spells out the same schema.
	SchemaEnabled *bool `env:"SCHEMA_ENABLED"`

	// TrustedDocuments names the manifest of trusted documents (the
	// persisted-documents.json GraphQL Code Generator writes: id →
	// document) that clients may send by id.
	TrustedDocuments string `env:"TRUSTED_DOCUMENTS"`
	// TrustedDocumentsMode is off, allow (ids and raw documents) or
	// enforce (ids only); defaults to enforce with a manifest, off without.
	TrustedDocumentsMode string `env:"TRUSTED_DOCUMENTS_MODE"`

	// MaxBodyBytes bounds an HTTP request body; larger ones get 413.
	MaxBodyBytes int64 `env:"HTTP_MAX_BODY_BYTES" envDefault:"1048576"`
	// GraphQLMaxQueryBytes bounds the GraphQL document text, checked before parsing.
	GraphQLMaxQueryBytes int `env:"GRAPHQL_MAX_QUERY_BYTES" envDefault:"15000"`
	// GraphQLMaxTokens bounds the lexical tokens of a document (gqlparser's token limit).
	GraphQLMaxTokens int `env:"GRAPHQL_MAX_TOKENS" envDefault:"1000"`
	// GraphQLMaxDepth bounds how deeply selection sets nest, fragments expanded.
	GraphQLMaxDepth int `env:"GRAPHQL_MAX_DEPTH" envDefault:"10"`
	// GraphQLMaxIntrospectionDepth bounds how deeply a __schema or __type
	// selection nests (ofType chains included), fragments expanded.
	// Introspection does not count toward GraphQLMaxDepth.
	GraphQLMaxIntrospectionDepth int `env:"GRAPHQL_MAX_INTROSPECTION_DEPTH" envDefault:"20"`
	// GraphQLMaxAliases bounds the aliases of a document (__typename excepted).
	GraphQLMaxAliases int `env:"GRAPHQL_MAX_ALIASES" envDefault:"15"`
	// GraphQLMaxDirectives bounds the directives used in a document.
	GraphQLMaxDirectives int `env:"GRAPHQL_MAX_DIRECTIVES" envDefault:"50"`
	// GraphQLMaxComplexity bounds an operation's cost; list fields cost
	// their page size (first/last, or the ids given) times their selection.
	GraphQLMaxComplexity int `env:"GRAPHQL_MAX_COMPLEXITY" envDefault:"5000"`
	// GraphQLMaxStringBytes bounds every string in the arguments and variables.
	GraphQLMaxStringBytes int `env:"GRAPHQL_MAX_STRING_BYTES" envDefault:"1024"`
	// GraphQLMaxFragmentDepth bounds how deeply fragment spreads and inline
	// fragments nest along any path of a document: each level used to
	// double what the executor collected (a 1 KB document took the server's
	// memory), and no real client nests fragments this deep.
	GraphQLMaxFragmentDepth int `env:"GRAPHQL_MAX_FRAGMENT_DEPTH" envDefault:"8"`
	// GraphQLMaxInputList bounds the items of every list in the arguments
	// and variables (an OR of 20,000 filters held PostgreSQL for minutes).
	GraphQLMaxInputList int `env:"GRAPHQL_MAX_INPUT_LIST" envDefault:"100"`
	// GraphQLMaxInputDepth bounds how deeply input objects nest in the
	// arguments and variables (5,000 nested NOTs exhausted PostgreSQL's
	// parser memory).
	GraphQLMaxInputDepth int `env:"GRAPHQL_MAX_INPUT_DEPTH" envDefault:"10"`
	// GraphQLMaxCredentialFields bounds how many credential fields (the
	// mutations marked @credential in the schema) one operation may
	// select, so that aliases cannot batch password guesses.
	GraphQLMaxCredentialFields int `env:"GRAPHQL_MAX_CREDENTIAL_FIELDS" envDefault:"1"`
	// FieldSuggestionsEnabled lets validation errors say "Did you mean …";
	// defaults to true outside production (the hints leak the schema).
	FieldSuggestionsEnabled *bool `env:"GRAPHQL_FIELD_SUGGESTIONS"`

	// LoginMaxFailures is how many failed sign-ins an account may have
	// within LoginFailureWindow before further attempts are refused.
	LoginMaxFailures int `env:"LOGIN_MAX_FAILURES" envDefault:"5"`
	// LoginFailureWindow is how long failed sign-ins are counted, and so
	// how long a locked account stays locked.
	LoginFailureWindow time.Duration `env:"LOGIN_FAILURE_WINDOW" envDefault:"15m"`
	// MFARequired is off, admins or all: who must enroll a second factor
	// and step up to AAL2 before doing anything else (docs/mfa.md).
	MFARequired string `env:"MFA_REQUIRED" envDefault:"off"`
	// MFAMaxFailures is how many wrong codes one factor (or one user's
	// recovery codes) may take within LoginFailureWindow; 0 turns it off.
	MFAMaxFailures int `env:"MFA_MAX_FAILURES" envDefault:"5"`
	// ReauthMaxAge is how recent the last proof of identity must be for
	// sensitive changes (factors, password, email, deletion of oneself);
	// 0 turns the check off.
	ReauthMaxAge time.Duration `env:"REAUTH_MAX_AGE" envDefault:"10m"`
	// TOTPIssuer names gqlauth in authenticator apps (the otpauth URI's
	// issuer).
	TOTPIssuer string `env:"TOTP_ISSUER" envDefault:"gqlauth"`
	// WebAuthnRPID is the WebAuthn relying party id passkeys are bound
	// to: a registrable domain suffix of the origins (default: the host
	// of APP_URL).
	WebAuthnRPID string `env:"WEBAUTHN_RP_ID"`
	// WebAuthnRPName is the name authenticators show for gqlauth when a
	// passkey is made (default: TOTP_ISSUER).
	WebAuthnRPName string `env:"WEBAUTHN_RP_NAME"`
	// WebAuthnOrigins are the exact origins a passkey ceremony may come
	// from (the clientDataJSON origin); default: APP_URL's origin.
	WebAuthnOrigins []string `env:"WEBAUTHN_ORIGINS" envSeparator:","`
	// RateLimitAuth is how many calls of credential fields (the mutations
	// marked @credential in the schema) one client address may make per
	// minute; 0 turns the limit off.
	RateLimitAuth int `env:"RATE_LIMIT_AUTH" envDefault:"30"`
	// TrustedProxies are the CIDRs (or addresses) whose X-Forwarded-For is
	// believed; from anyone else the socket peer is the client.
	TrustedProxies []string `env:"TRUSTED_PROXIES" envSeparator:","`

	// EmailVerification is off, optional or required: whether signUp sends
	// a verification mail, and whether signIn then waits for it. off also
	// turns off every other email flow (password reset, email change), so
	// that gqlauth sends no mail at all.
	EmailVerification string `env:"EMAIL_VERIFICATION" envDefault:"optional"`
	// MailURL is the SMTP server gqlauth's mail goes through:
	// smtp://user:pass@host:587 (STARTTLS required), smtps://user:pass@host:465
	// (TLS from the first byte), or smtp://host:1025?tls=none for a local
	// server without TLS (Mailpit; no password then). Empty outside
	// production writes each mail to the log instead (development only).
	MailURL string `env:"MAIL_URL"`
	// MailFrom is the From of every mail ("Acme <no-reply@acme.example>");
	// its display name is the product name the templates show.
	MailFrom string `env:"MAIL_FROM"`
	// AppURL is the public origin of the app that mail links point at
	// (https://app.example.com); defaults to http://localhost:PORT.
	AppURL string `env:"APP_URL"`
	// MailTimeout bounds one delivery: connecting, TLS, AUTH and sending.
	MailTimeout time.Duration `env:"MAIL_TIMEOUT" envDefault:"10s"`
	// MailTemplatesDir holds templates that replace the built-in ones of
	// the same file name (docs/email.md lists them).
	MailTemplatesDir string `env:"MAIL_TEMPLATES_DIR"`
	// MailMaxAttempts is how many times a mail is tried before it is
	// marked failed.
	MailMaxAttempts int `env:"MAIL_MAX_ATTEMPTS" envDefault:"8"`
	// MailRetryBackoff is the wait after a first failed delivery; it
	// doubles after each further failure, up to 30 minutes.
	MailRetryBackoff time.Duration `env:"MAIL_RETRY_BACKOFF" envDefault:"30s"`
	// EmailTokenTTL is how long the link and code of an email
	// verification or an email change stay valid.
	EmailTokenTTL time.Duration `env:"EMAIL_TOKEN_TTL" envDefault:"1h"`
	// PasswordResetTTL is how long the link and code of a password reset
	// stay valid.
	PasswordResetTTL time.Duration `env:"PASSWORD_RESET_TTL" envDefault:"30m"`
	// EmailLinkPath is the path under APP_URL that the links in mails
	// open; the token travels in the fragment (#action=…&token=…), so
	// that it reaches no server log. gqlauth serves a minimal page there
	// itself, for when APP_URL points at gqlauth.
	EmailLinkPath string `env:"EMAIL_LINK_PATH" envDefault:"/auth/email"`
	// PasswordResetNotifyUnknown sends a "someone tried to reset" mail
	// when a reset is asked for an address without an account; off, such
	// a request sends nothing.
	PasswordResetNotifyUnknown bool `env:"PASSWORD_RESET_NOTIFY_UNKNOWN" envDefault:"false"`
	// EmailRateLimit is how many mails with a link or code one address
	// may be sent per hour (per address, whether it has an account or
	// not); 0 turns the limit off.
	EmailRateLimit int `env:"EMAIL_RATE_LIMIT" envDefault:"5"`

	// PasswordMinLength is the least number of characters (Unicode code
	// points) of a new password. NIST SP 800-63B-4 asks for 15 when the
	// password is the only factor, 8 with a second one.
	PasswordMinLength int `env:"PASSWORD_MIN_LENGTH" envDefault:"8"`
	// PasswordBreachCheck is off or hibp: whether new passwords are looked
	// up in Have I Been Pwned's range API (only 5 hex characters of their
	// SHA-1 leave gqlauth).
	PasswordBreachCheck string `env:"PASSWORD_BREACH_CHECK" envDefault:"off"`
	// PasswordBreachAPIURL is the range API's base URL (…/range/ABCDE).
	PasswordBreachAPIURL string `env:"PASSWORD_BREACH_API_URL" envDefault:"https://api.pwnedpasswords.com"`
	// PasswordBreachTimeout bounds the breach lookup; past it the password
	// is accepted and a warning logged.
	PasswordBreachTimeout time.Duration `env:"PASSWORD_BREACH_TIMEOUT" envDefault:"2s"`
	// PasswordPepper, when set, keys the HMAC-SHA-256 that passwords go
	// through before bcrypt: a secret kept out of the database, so that a
	// stolen database alone cannot be attacked offline.
	PasswordPepper string `env:"PASSWORD_PEPPER"`

	// AuditRetention is how long audit events are kept before
	// housekeeping deletes them (docs/audit.md).
	AuditRetention time.Duration `env:"AUDIT_RETENTION" envDefault:"90d"`
	// AuditRefreshes records session.refreshed, the noisiest event type.
	AuditRefreshes bool `env:"AUDIT_REFRESHES" envDefault:"false"`

	// WebhookURLs receive the audit events as signed webhooks; empty
	// sends none.
	WebhookURLs []string `env:"WEBHOOK_URLS" envSeparator:","`
	// WebhookSecret signs them (Standard Webhooks: whsec_ and the base64
	// of the key).
	WebhookSecret string `env:"WEBHOOK_SECRET"`
	// WebhookEvents are the event types sent; empty means all but
	// session.refreshed.
	WebhookEvents []string `env:"WEBHOOK_EVENTS" envSeparator:","`
	// WebhookFormat is standard (a JSON body) or caep (Security Event
	// Tokens with the OpenID CAEP event types).
	WebhookFormat string `env:"WEBHOOK_FORMAT" envDefault:"standard"`
	// WebhookMaxAttempts is how many times a delivery is tried before it
	// is marked failed.
	WebhookMaxAttempts int `env:"WEBHOOK_MAX_ATTEMPTS" envDefault:"12"`
	// WebhookRetryBase is the first retry's delay; each next one doubles
	// (capped at 6h), with jitter.
	WebhookRetryBase time.Duration `env:"WEBHOOK_RETRY_BASE" envDefault:"1m"`
	// WebhookTimeout bounds one delivery attempt; a row being posted is
	// leased for twice as long.
	WebhookTimeout time.Duration `env:"WEBHOOK_TIMEOUT" envDefault:"10s"`

	// SSEMaxConnections bounds the live session-event streams one
	// instance holds open (each user has at most live.MaxPerUser); 0
	// turns live session events off.
	SSEMaxConnections int `env:"SSE_MAX_CONNECTIONS" envDefault:"10000"`

	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`

	// MetricsEnabled serves Prometheus metrics at /metrics.
	MetricsEnabled bool `env:"METRICS_ENABLED" envDefault:"true"`
	// MetricsAddr, when set (e.g. ":9090"), serves /metrics on its own
	// listener instead of the main port, so it can stay off the internet.
	MetricsAddr string `env:"METRICS_ADDR"`
	// MetricsToken, when set, is the bearer token /metrics requires
	// (Authorization: Bearer <token>), on whichever port serves it.
	MetricsToken string `env:"METRICS_TOKEN"`
	// ShutdownTimeout is how long a stopping server waits for requests in flight.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
	// AutoMigrate applies pending database migrations when the server starts;
	// turn it off to run `gqlauth migrate` as a separate deployment step.
	AutoMigrate bool `env:"AUTO_MIGRATE" envDefault:"true"`

	// PprofAddr, when set (e.g. 127.0.0.1:6060), serves net/http/pprof on
	// that address, apart from the API, for profiling (make bench PROFILE=1).
	// Never expose it beyond loopback: profiles reveal memory contents.
	PprofAddr string `env:"PPROF_ADDR"`
}

// Production reports whether APP_ENV is production.
func (c *Config) Production() bool { return c.AppEnv == "production" }

// Playground reports whether the GraphiQL playground is served.
func (c *Config) Playground() bool { return orDefault(c.PlaygroundEnabled, !c.Production()) }

// Examples reports whether the example apps under /examples/ are served:
// by default in development, where a new user tries gqlauth, and never
// unasked in production or tests.
func (c *Config) Examples() bool { return orDefault(c.ExamplesEnabled, c.AppEnv == "development") }

// Introspection reports whether schema introspection is allowed.
func (c *Config) Introspection() bool { return orDefault(c.IntrospectionEnabled, !c.Production()) }

// Redis is the Redis connection the REDIS_* variables describe.
func (c *Config) Redis() redisx.Settings {
	return redisx.Settings{
		URL: c.RedisURL, ClusterAddrs: c.RedisClusterAddrs,
		SentinelAddrs: c.RedisSentinelAddrs, SentinelMaster: c.RedisSentinelMaster, SentinelPassword: c.RedisSentinelPassword,
		Username: c.RedisUsername, Password: c.RedisPassword, TLS: c.RedisTLS,
	}
}

// SchemaPublished reports whether /schema.graphql is served: as
// introspection is, unless SCHEMA_ENABLED says otherwise.
func (c *Config) SchemaPublished() bool { return orDefault(c.SchemaEnabled, c.Introspection()) }

// The values of EMAIL_VERIFICATION.
const (
	EmailVerificationOff      = "off"
	EmailVerificationOptional = "optional"
	EmailVerificationRequired = "required"
)

// The values of PASSWORD_BREACH_CHECK.
const (
	BreachCheckOff  = "off"
	BreachCheckHIBP = "hibp"
)

// MailFlows reports whether the email flows (verification, password
// reset, email change) are on: whenever EMAIL_VERIFICATION is not off.
func (c *Config) MailFlows() bool { return c.EmailVerification != EmailVerificationOff }

// AppOrigin is APP_URL without a trailing slash, or http://localhost:PORT.
func (c *Config) AppOrigin() string {
	if c.AppURL == "" {
		return "http://localhost:" + strconv.Itoa(c.Port)
	}
	return strings.TrimRight(c.AppURL, "/")
}

// DefaultMailFrom is MAIL_FROM outside production when it is not set.
const DefaultMailFrom = "gqlauth <no-reply@localhost>"

// MailSender is MAIL_FROM, or DefaultMailFrom.
func (c *Config) MailSender() string {
	if c.MailFrom == "" {
		return DefaultMailFrom
	}
	return c.MailFrom
}

// The values of TRUSTED_DOCUMENTS_MODE.
const (
	TrustedOff     = "off"
	TrustedAllow   = "allow"
	TrustedEnforce = "enforce"
)

// TrustedMode is TRUSTED_DOCUMENTS_MODE: as set, else enforce when a
// manifest is given and off when not.
func (c *Config) TrustedMode() string {
	switch {
	case c.TrustedDocumentsMode != "":
		return strings.ToLower(c.TrustedDocumentsMode)
	case c.TrustedDocuments != "":
		return TrustedEnforce
	}
	return TrustedOff
}

// MetricsOnMainPort reports whether /metrics is served on PORT: when
// metrics are on and METRICS_ADDR is not set, and in production only
// behind METRICS_TOKEN (the main port faces the internet there).
func (c *Config) MetricsOnMainPort() bool {
	return c.MetricsEnabled && c.MetricsAddr == "" && (!c.Production() || c.MetricsToken != "")
}

// FieldSuggestions reports whether validation errors may suggest field names.
func (c *Config) FieldSuggestions() bool {
	return orDefault(c.FieldSuggestionsEnabled, !c.Production())
}

// TrustedProxyPrefixes are TrustedProxies parsed (validated in FromEnv);
// a bare address is a single-address prefix.
func (c *Config) TrustedProxyPrefixes() []netip.Prefix {
	out, _ := parsePrefixes(c.TrustedProxies)
	return out
}

// parsePrefixes parses CIDRs and bare addresses.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR or an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Secure reports whether cookies carry the Secure attribute.
func (c *Config) Secure() bool { return orDefault(c.CookieSecure, c.Production()) }

// SameSite is the SameSite mode of the cookies.
func (c *Config) SameSite() http.SameSite {
	switch strings.ToLower(c.CookieSameSite) {
	case "lax":
		return http.SameSiteLaxMode
	case "none":
		return http.SameSiteNoneMode
	default:
		return http.SameSiteStrictMode
	}
}

// SlogLevel is LogLevel as a slog.Level.
func (c *Config) SlogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.LogLevel)) // validated in Load
	return l
}

func orDefault(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// Load reads the configuration from the process environment, after
// loading a .env file from the working directory if there is one (values
// already in the environment win). The error names the variable and what
// is wrong with it, in one line.
func Load() (*Config, error) {
	if err := godotenv.Load(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf(".env: %v", err)
	}
	return FromEnv(nil)
}

// FromEnv parses the given variables, or the process environment when
// vars is nil. Tests use it to build a Config without touching the process.
func FromEnv(vars map[string]string) (*Config, error) {
	cfg := &Config{}
	opts := env.Options{
		FuncMap: map[reflect.Type]env.ParserFunc{
			reflect.TypeOf(time.Duration(0)): func(v string) (any, error) { return ParseDuration(v) },
		},
	}
	if vars != nil {
		opts.Environment = vars
	}
	if err := env.ParseWithOptions(cfg, opts); err != nil {
		return nil, describe(err)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// describe turns the env library's error into "VARIABLE: reason" lines.
func describe(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			var ne *strconv.NumError
			if errors.As(pe.Err, &ne) {
				msgs = append(msgs, fmt.Sprintf("%s: %q is not a valid %s", envName(pe.Name), ne.Num, strings.TrimPrefix(pe.Type.String(), "*")))
				continue
			}
			msgs = append(msgs, fmt.Sprintf("%s: %v", envName(pe.Name), pe.Err))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

// envName is the variable behind a Config field, for error messages.
func envName(field string) string {
	if f, ok := reflect.TypeOf(Config{}).FieldByName(field); ok {
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			return name
		}
	}
	return field
}

// ParseDuration is time.ParseDuration that also takes a whole number of
// days ("7d"), the unit people use for refresh-token lifetimes.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 15m, 1h or 7d", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

func (c *Config) validate() error {
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
	switch c.AppEnv {
	case "development", "production", "test":
	default:
		return bad("APP_ENV", "must be development, production or test, got %q", c.AppEnv)
	}
	if c.Port < 1 || c.Port > 65535 {
		return bad("PORT", "must be between 1 and 65535, got %d", c.Port)
	}
	if c.BcryptCost < 4 || c.BcryptCost > 31 {
		return bad("BCRYPT_COST", "must be between 4 and 31, got %d", c.BcryptCost)
	}
	if c.Production() && c.BcryptCost < 10 {
		return bad("BCRYPT_COST", "must be at least 10 in production, got %d", c.BcryptCost)
	}
	if c.AccessTokenTTL < time.Second {
		return bad("JWT_ACCESS_EXPIRES_IN", "must be at least 1s")
	}
	if c.RefreshTokenTTL < time.Second {
		return bad("JWT_REFRESH_EXPIRES_IN", "must be at least 1s")
	}
	if c.SessionMaxLifetime < time.Second {
		return bad("SESSION_MAX_LIFETIME", "must be at least 1s")
	}
	if c.SessionIdleTimeout < 0 || (c.SessionIdleTimeout > 0 && c.SessionIdleTimeout < time.Second) {
		return bad("SESSION_IDLE_TIMEOUT", "must be 0 (off) or at least 1s")
	}
	if c.JWTIssuer == "" {
		return bad("JWT_ISSUER", "must not be empty")
	}
	if c.JWTAudience == "" {
		return bad("JWT_AUDIENCE", "must not be empty")
	}
	if c.RedisKeyPrefix == "" {
		return bad("REDIS_KEY_PREFIX", "must not be empty")
	}
	if err := c.Redis().Check(); err != nil {
		return err
	}
	switch strings.ToLower(c.CookieSameSite) {
	case "strict", "lax", "none":
	default:
		return bad("COOKIE_SAMESITE", "must be Strict, Lax or None, got %q", c.CookieSameSite)
	}
	if strings.EqualFold(c.CookieSameSite, "none") && !c.Secure() {
		return bad("COOKIE_SAMESITE", "None requires COOKIE_SECURE=true (browsers drop the cookie otherwise)")
	}
	for name, v := range map[string]int{
		"GRAPHQL_MAX_QUERY_BYTES":    c.GraphQLMaxQueryBytes,
		"GRAPHQL_MAX_TOKENS":         c.GraphQLMaxTokens,
		"GRAPHQL_MAX_DEPTH":          c.GraphQLMaxDepth,
		"GRAPHQL_MAX_ALIASES":        c.GraphQLMaxAliases,
		"GRAPHQL_MAX_DIRECTIVES":     c.GraphQLMaxDirectives,
		"GRAPHQL_MAX_COMPLEXITY":     c.GraphQLMaxComplexity,
		"GRAPHQL_MAX_STRING_BYTES":   c.GraphQLMaxStringBytes,
		"GRAPHQL_MAX_FRAGMENT_DEPTH": c.GraphQLMaxFragmentDepth,
		"GRAPHQL_MAX_INPUT_LIST":     c.GraphQLMaxInputList,
		"GRAPHQL_MAX_INPUT_DEPTH":    c.GraphQLMaxInputDepth,
		"RATE_LIMIT_AUTH":            c.RateLimitAuth,
		"LOGIN_MAX_FAILURES":         c.LoginMaxFailures,
	} {
		if v < 0 {
			return bad(name, "must not be negative (0 turns the limit off), got %d", v)
		}
	}
	if c.GraphQLMaxIntrospectionDepth < 0 {
		return bad("GRAPHQL_MAX_INTROSPECTION_DEPTH", "must not be negative (0 turns the limit off), got %d", c.GraphQLMaxIntrospectionDepth)
	}
	if c.GraphQLMaxCredentialFields < 1 {
		return bad("GRAPHQL_MAX_CREDENTIAL_FIELDS", "must be at least 1, got %d", c.GraphQLMaxCredentialFields)
	}
	if c.MaxBodyBytes < 1024 {
		return bad("HTTP_MAX_BODY_BYTES", "must be at least 1024, got %d", c.MaxBodyBytes)
	}
	if c.LoginMaxFailures > 0 && c.LoginFailureWindow < time.Second {
		return bad("LOGIN_FAILURE_WINDOW", "must be at least 1s")
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		return bad("TRUSTED_PROXIES", "%v", err)
	}
	if c.DatabaseMaxConns != 0 && c.DatabaseMaxConns < 4 {
		// Fewer would leave requests and the background work (outbox,
		// housekeeping, migrations at start) queueing behind each other.
		return bad("DATABASE_MAX_CONNS", "must be 0 (the default: 8 per CPU, at most 32) or at least 4, got %d", c.DatabaseMaxConns)
	}
	if c.DatabaseStatementTimeout != 0 && c.DatabaseStatementTimeout < 100*time.Millisecond {
		return bad("DATABASE_STATEMENT_TIMEOUT", "must be 0 (off) or at least 100ms, got %s", c.DatabaseStatementTimeout)
	}
	switch c.TrustedMode() {
	case TrustedOff:
	case TrustedAllow, TrustedEnforce:
		if c.TrustedDocuments == "" {
			return bad("TRUSTED_DOCUMENTS_MODE", "%s needs TRUSTED_DOCUMENTS, the manifest of trusted documents", c.TrustedMode())
		}
	default:
		return bad("TRUSTED_DOCUMENTS_MODE", "must be off, allow or enforce, got %q", c.TrustedDocumentsMode)
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		return bad("METRICS_TOKEN", "must be at least 16 bytes, got %d", len(c.MetricsToken))
	}
	if err := c.validateWebhooks(); err != nil {
		return err
	}
	if c.AuditRetention < 0 {
		return bad("AUDIT_RETENTION", "must not be negative (0 keeps events forever)")
	}
	if c.SSEMaxConnections < 0 {
		return bad("SSE_MAX_CONNECTIONS", "must not be negative (0 turns live session events off)")
	}
	if c.ShutdownTimeout < time.Second {
		return bad("SHUTDOWN_TIMEOUT", "must be at least 1s")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return bad("LOG_LEVEL", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.JWTAccessSecret != "" && len(c.JWTAccessSecret) < 32 {
		return bad("JWT_ACCESS_SECRET", "must be at least 32 bytes, got %d", len(c.JWTAccessSecret))
	}
	switch _, err := c.DataKey(); {
	case c.DataEncryptionKey == "" && c.Production():
		return bad("DATA_ENCRYPTION_KEY", "is required in production: 32 random bytes in base64 (openssl rand -base64 32)")
	case err != nil:
		return bad("DATA_ENCRYPTION_KEY", "%v", err)
	}
	if c.JWTKeysRefreshInterval < 100*time.Millisecond {
		return bad("JWT_KEYS_REFRESH_INTERVAL", "must be at least 100ms, got %s", c.JWTKeysRefreshInterval)
	}
	if c.JWTKeyRetireAfter != 0 && c.JWTKeyRetireAfter < c.AccessTokenTTL+accessTokenLeeway {
		return bad("JWT_KEY_RETIRE_AFTER", "must be at least JWT_ACCESS_EXPIRES_IN plus %s (%s), or else unexpired tokens would be refused; use gqlauth keys revoke to refuse them at once",
			accessTokenLeeway, c.AccessTokenTTL+accessTokenLeeway)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return bad("PUBLIC_URL", "must be a URL like https://auth.example.com, got %q", c.PublicURL)
		}
	}
	if err := c.validateMFA(); err != nil {
		return err
	}
	if err := c.validateMail(); err != nil {
		return err
	}
	if err := c.validatePasskeys(); err != nil {
		return err
	}
	if err := c.validatePasswords(); err != nil {
		return err
	}
	return c.checkProduction()
}

// validateWebhooks checks the WEBHOOK_ settings: absolute http(s) URLs
// (https in production), a Standard Webhooks secret of 24 to 64 bytes
// when there are URLs, a known format. The event names are checked
// against the audit types by internal/webhook at start.
func (c *Config) validateWebhooks() error {
	switch c.WebhookFormat {
	case "standard", "caep":
	default:
		return fmt.Errorf("WEBHOOK_FORMAT: must be standard or caep, got %q", c.WebhookFormat)
	}
	if c.WebhookMaxAttempts < 1 {
		return fmt.Errorf("WEBHOOK_MAX_ATTEMPTS: must be at least 1, got %d", c.WebhookMaxAttempts)
	}
	if c.WebhookRetryBase < 10*time.Millisecond {
		return fmt.Errorf("WEBHOOK_RETRY_BASE: must be at least 10ms")
	}
	if c.WebhookTimeout < 100*time.Millisecond {
		return fmt.Errorf("WEBHOOK_TIMEOUT: must be at least 100ms")
	}
	for _, raw := range c.WebhookURLs {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("WEBHOOK_URLS: %q is not an absolute http(s) URL", raw)
		}
		if c.Production() && u.Scheme != "https" {
			return fmt.Errorf("WEBHOOK_URLS: %q must use https in production", raw)
		}
	}
	if len(c.WebhookURLs) == 0 {
		return nil
	}
	if _, err := c.WebhookKey(); err != nil {
		return fmt.Errorf("WEBHOOK_SECRET: %v", err)
	}
	return nil
}

// WebhookKey is the HMAC key of WEBHOOK_SECRET: the bytes after whsec_,
// base64-decoded (the Standard Webhooks form).
func (c *Config) WebhookKey() ([]byte, error) {
	b64, ok := strings.CutPrefix(c.WebhookSecret, "whsec_")
	if !ok {
		return nil, errors.New("must be whsec_ followed by the base64 of 24 to 64 random bytes (WEBHOOK_URLS needs it)")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, errors.New("must be whsec_ followed by the base64 of 24 to 64 random bytes")
	}
	return key, nil
}
