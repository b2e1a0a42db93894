// Package verify checks gqlauth access tokens in Go services, with the
// rules gqlauth itself applies: it fetches and caches gqlauth's JWKS
// (/.well-known/jwks.json, through github.com/MicahParks/keyfunc), picks
// the key by the token's kid and accepts only that key's algorithm (ES256,
// EdDSA or RS256; never HS256 or none), and checks typ "at+jwt", iss, aud,
// exp, iat and nbf with gqlauth's 5-second leeway. Optionally it reads
// gqlauth's deny list in the same Redis, so that a logout takes effect
// here too before the token expires.
//
//	v, err := verify.New(ctx, verify.Config{
//		JWKSURL:  "https://auth.example.com/.well-known/jwks.json",
//		Issuer:   "https://auth.example.com", // gqlauth's JWT_ISSUER
//		Audience: "api",                      // gqlauth's JWT_AUDIENCE
//		DenyList: verify.NewRedisDenyList(rdb, "gqlauth:"), // optional
//	})
//	http.Handle("/api/", v.Middleware(api))
//
// Inside api, verify.ClaimsFrom(r.Context()) returns the caller's claims.
package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// AccessTokenType is the typ header of gqlauth access tokens (RFC 9068).
const AccessTokenType = "at+jwt"

// Leeway is the clock skew tolerated past exp and before iat and nbf, as
// gqlauth tolerates it.
const Leeway = 5 * time.Second

// Algorithms are the algorithms a published gqlauth key may have.
var Algorithms = []string{"ES256", "EdDSA", "RS256"}

// Claims are the claims of a gqlauth access token.
type Claims struct {
	jwt.RegisteredClaims
	// ClientID is the client the token was issued to (RFC 9068).
	ClientID string `json:"client_id,omitempty"`
	// SessionID (sid) names the sign-in the token belongs to.
	SessionID string `json:"sid"`
	// Role is USER or ADMIN when the token was issued. gqlauth re-reads
	// an admin's role on each request; a service that grants admin powers
	// on this claim alone trusts it for the token's lifetime.
	Role string `json:"role"`
	// Email and Username, when the account has them.
	Email    string `json:"email,omitempty"`
	Username string `json:"username,omitempty"`
	// AAL is the session's assurance level when the token was issued:
	// "aal1" (a password) or "aal2" (and a second factor).
	AAL string `json:"aal,omitempty"`
	// AMR names how the person authenticated (RFC 8176: pwd, otp, mfa).
	AMR []string `json:"amr,omitempty"`
	// AuthTime is when the person last proved who they are.
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	// EmailVerified (email_verified) says whether the person proved they
	// read mail at Email; nil when the token has no email. A service that
	// needs a verified address checks it (gqlauth's EMAIL_VERIFICATION).
	EmailVerified *bool `json:"email_verified,omitempty"`
}

// Level is the token's assurance level as a number: 2 for "aal2", else 1.
func (c *Claims) Level() int {
	if c.AAL == "aal2" {
		return 2
	}
	return 1
}

// Config says where gqlauth publishes its keys and what its tokens must say.
type Config struct {
	// JWKSURL is gqlauth's /.well-known/jwks.json. Required.
	JWKSURL string
	// Issuer is gqlauth's JWT_ISSUER (iss). Required.
	Issuer string
	// Audience is gqlauth's JWT_AUDIENCE (aud). Required.
	Audience string
	// RefreshInterval is how often the JWKS is fetched again, so that a
	// revoked key stops verifying here too; 0 means 5 minutes. A token
	// naming a kid not in the cached set fetches it at once (at most once
	// per UnknownKIDRefresh).
	RefreshInterval time.Duration
	// UnknownKIDRefresh is the least time between two fetches caused by
	// unknown kids; 0 means 10 seconds.
	UnknownKIDRefresh time.Duration
	// HTTPClient fetches the JWKS; nil means a client with a 10-second timeout.
	HTTPClient *http.Client
	// DenyList, when set, is asked about every token that verifies.
	DenyList *RedisDenyList
	// Log receives JWKS fetch failures; nil means slog.Default().
	Log *slog.Logger
	// RequireAAL, when 2, refuses tokens of sessions that have not
	// stepped up with a second factor (ErrInsufficientAAL); 0 or 1
	// accepts both levels. RequireAAL (the handler) does it per route.
	RequireAAL int
}

// Verifier checks access tokens. It is safe for concurrent use.
type Verifier struct {
	keys   keyfunc.Keyfunc
	parser *jwt.Parser
	deny   *RedisDenyList
	aal    int
}

// ErrInvalidToken is returned for a token that does not verify: its
// signature, key, algorithm or claims are wrong, it has expired, or it is
// on the deny list.
var ErrInvalidToken = errors.New("invalid access token")

// ErrDenyListUnavailable is returned when the deny list cannot be asked;
// the token must then be refused (fail closed).
var ErrDenyListUnavailable = errors.New("deny list unavailable")

// ErrInsufficientAAL is returned for a valid token whose session has not
// reached the assurance level required (Config.RequireAAL): the client
// must step up (gqlauth's verifyMfa), not merely refresh.
var ErrInsufficientAAL = errors.New("the session must step up with a second factor")

// New fetches the JWKS and returns a Verifier that refreshes it until ctx
// ends. It fails when the first fetch fails.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.JWKSURL == "" || cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("verify: JWKSURL, Issuer and Audience are required")
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = 5 * time.Minute
	}
	if cfg.UnknownKIDRefresh == 0 {
		cfg.UnknownKIDRefresh = 10 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	fail := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:                    cfg.HTTPClient,
		HTTPTimeout:               cfg.HTTPClient.Timeout,
		NoErrorReturnFirstHTTPReq: &fail,
		RefreshInterval:           cfg.RefreshInterval,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(cfg.UnknownKIDRefresh), 1),
		// A request with an unknown kid waits at most this long for its
		// turn to refetch; past it, the kid is unknown.
		RateLimitWaitMax: 2 * time.Second,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				log.WarnContext(ctx, "fetching gqlauth's JWKS failed", "url", u, "error", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("verify: fetch the JWKS: %w", err)
	}
	return &Verifier{
		keys: kf,
		deny: cfg.DenyList,
		aal:  cfg.RequireAAL,
		parser: jwt.NewParser(
			jwt.WithValidMethods(Algorithms),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
			jwt.WithStrictDecoding(),
		),
	}, nil
}

// Verify checks raw and returns its claims: ErrInvalidToken (wrapped)
// when it does not verify or is denied, ErrDenyListUnavailable when the
// deny list cannot answer.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	c := &Claims{}
	keyfn := v.keys.KeyfuncCtx(ctx)
	_, err := v.parser.ParseWithClaims(raw, c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != AccessTokenType {
			return nil, errors.New("typ is not at+jwt")
		}
		// keyfunc would try every key for a token without kid; gqlauth
		// names the key of every token it signs.
		if kid, _ := t.Header["kid"].(string); kid == "" {
			return nil, errors.New("no kid")
		}
		// keyfunc refuses a token whose alg differs from its key's.
		return keyfn(t)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.Subject == "" || c.ID == "" || c.SessionID == "" {
		return nil, fmt.Errorf("%w: no sub, jti or sid", ErrInvalidToken)
	}
	if v.deny != nil {
		denied, err := v.deny.Denied(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDenyListUnavailable, err)
		}
		if denied {
			return nil, fmt.Errorf("%w: denied (logged out or revoked)", ErrInvalidToken)
		}
	}
	if c.Level() < v.aal {
		return nil, ErrInsufficientAAL
	}
	return c, nil
}

type claimsKey struct{}

// ClaimsFrom returns the claims Middleware put in ctx.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// WithClaims returns ctx carrying c, as Middleware does (for tests of
// handlers behind it).
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// Middleware lets through requests whose Authorization: Bearer token
// verifies, with its claims in the request context (ClaimsFrom). Others
// get 401 with WWW-Authenticate (RFC 6750), or 503 when the deny list
// cannot be asked.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := bearer(r)
		if raw == "" {
			w.Header().Set("WWW-Authenticate", `Bearer`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		c, err := v.Verify(r.Context(), raw)
		switch {
		case errors.Is(err, ErrDenyListUnavailable):
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		case errors.Is(err, ErrInsufficientAAL):
			insufficientAAL(w)
			return
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "invalid or expired access token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
	})
}

// RequireAAL lets through, behind Middleware, only requests whose token
// has at least the assurance level (2: a second factor), and answers the
// others 401 with error="insufficient_user_authentication" (RFC 9470),
// so that one service can ask for AAL2 on some routes only.
func RequireAAL(level int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := ClaimsFrom(r.Context())
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		if c.Level() < level {
			insufficientAAL(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// insufficientAAL answers a token whose session must step up (RFC 9470).
func insufficientAAL(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_user_authentication", error_description="a second factor is required", acr_values="aal2"`)
	http.Error(w, "a second factor is required", http.StatusUnauthorized)
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
