// Package server builds gqlauth's HTTP handler: the GraphQL endpoint, the
// playground, the published schema, and the middleware around them.
package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"log/slog"
	"net/http"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/rs/cors"

	"github.com/gqlauth/gqlauth/graph"
	"github.com/gqlauth/gqlauth/internal/config"
	"github.com/gqlauth/gqlauth/internal/metrics"
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/request"
)

// Deps are what the handler serves.
type Deps struct {
	Config *config.Config
	// Resolver is what the GraphQL schema runs (graph.NewHandler).
	Resolver *graph.Resolver
	// Authenticate finds the viewer of a request from its bearer token
	// ("" for none), lazily (authn.Authenticator.Lazy).
	Authenticate func(bearer string) policy.Authenticate
	// Cookies shape the refresh and CSRF cookies.
	Cookies CookieSettings
	Log     *slog.Logger
	// AuthRate is the per-client bucket of credential fields
	// (RATE_LIMIT_AUTH); nil means no limit.
	AuthRate graph.ClientLimiter

	// SQL is the pool under DB, pinged by /readyz.
	SQL *sql.DB
	// Redis is pinged by /readyz when not nil (REDIS_URL is set).
	Redis redis.UniversalClient
	// Metrics counts GraphQL requests; nil when METRICS_ENABLED=false.
	// GET /metrics is mounted when Config.MetricsOnMainPort says so.
	Metrics *metrics.Metrics
	// Draining reports that the server is shutting down; /readyz then
	// answers 503. May be nil.
	Draining func() bool
	// TrustedDocuments are the documents clients may send by id
	// (TRUSTED_DOCUMENTS); nil is TRUSTED_DOCUMENTS_MODE=off.
	TrustedDocuments *TrustedDocuments
	// Keys publishes the signing keys at /.well-known/jwks.json (and the
	// discovery document beside it); nil serves neither.
	Keys KeyPublisher
	// ForwardAuth answers the forward-auth endpoint /auth/verify; nil
	// leaves it out.
	ForwardAuth Authenticate
}

// New returns gqlauth's HTTP handler.
func New(d Deps) http.Handler {
	// The GraphQL layer (schema, limits, complexity, presenter) is
	// graph's; what HTTP adds is the transport, the rule that GET runs
	// queries only, and where the operation's outcome is reported.
	gql := graph.NewHandler(d.Resolver, graph.HandlerOptions{
		Limits:         graph.LimitsFrom(d.Config),
		Introspection:  d.Config.Introspection(),
		AuthRate:       d.AuthRate,
		Log:            d.Log,
		AllowOperation: queriesOnlyOverGET,
		Report:         reportOf,
	})
	// Only JSON POST (and GET for queries), decoded by
	// checkGraphQLRequest: form-encoded and multipart bodies are "simple
	// requests" a foreign site can send with the user's cookies, so
	// accepting them would open a CSRF hole.
	gql.AddTransport(graphQLTransport{documents: d.TrustedDocuments})
	// Subscriptions (sessionEvents) over Server-Sent Events, under the
	// same checks, CORS and limits as every other operation.
	gql.AddTransport(sseTransport{documents: d.TrustedDocuments})

	// The same bytes as the committed graph/schema.graphql (a test checks).
	published := graph.SDL()

	mux := http.NewServeMux()
	ips := clientIPs{trusted: d.Config.TrustedProxyPrefixes()}
	mux.Handle("/graphql", noStore(checkGraphQLRequest(withRequestInfo(d.Authenticate, d.Cookies, ips, gql))))
	if d.Config.SchemaPublished() {
		mux.Handle("/schema.graphql", schemaHandler(published))
	}
	if d.Keys != nil {
		mux.Handle("GET "+JWKSPath, jwksHandler(d.Keys, d.Config.JWKSMaxAge))
		mux.Handle("GET "+DiscoveryPath, discoveryHandler(d.Config.JWTIssuer, d.Config.PublicURL, d.Config.JWKSMaxAge, ips))
	}
	if d.ForwardAuth != nil {
		fa := forwardAuth(d.ForwardAuth, d.Log)
		mux.Handle(ForwardAuthPath, fa)
		mux.Handle(ForwardAuthPath+"/", fa)
	}
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /readyz", readiness{db: d.SQL, redis: d.Redis, draining: d.Draining, log: d.Log})
	if d.Metrics != nil && d.Config.MetricsOnMainPort() {
		mux.Handle("GET /metrics", MetricsHandler(d.Metrics.Handler(), d.Config.MetricsToken))
	}
	if d.Config.Playground() {
		mux.Handle("GET /{$}", playgroundHandler("gqlauth playground", "/graphql"))
		mux.Handle("GET "+playgroundPrefix, playgroundFiles())
	}
	if d.Config.Examples() {
		mountExamples(mux)
	}
	if d.Config.MailFlows() {
		mountEmailLink(mux, d.Config.EmailLinkPath)
	}

	var h http.Handler = mux
	h = corsFor(d.Config.CORSAllowedOrigins, h)
	h = limitBody(d.Config.MaxBodyBytes, h)
	h = securityHeaders(h)
	h = observe(d.Log, d.Metrics, ips, h)
	return h
}

// schemaHandler serves the SDL to GET (and HEAD). Any other method gets
// 405 with Allow and a JSON error body, not the mux's plain text: tools
// such as graphql-inspector's URL loader POST an introspection query
// first and parse the answer as JSON.
func schemaHandler(sdl []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeRequestError(w, mediaJSON, &requestError{http.StatusMethodNotAllowed, CodeMethodNotAllowed,
				"/schema.graphql serves the schema as SDL to GET; send GraphQL requests to /graphql"})
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(sdl)
	})
}

// MetricsHandler is h behind a bearer token (METRICS_TOKEN), compared in
// constant time; an empty token leaves h open.
func MetricsHandler(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(bearer(r)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need Authorization: Bearer <METRICS_TOKEN>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// withRequestInfo hands the resolvers what they may know of the request
// as values (client address, user agent, the refresh cookie after its
// CSRF check) and the viewer's lazy authentication from the bearer token,
// and writes the session cookies they ask for.
func withRequestInfo(auth func(bearer string) policy.Authenticate, cookies CookieSettings, ips clientIPs, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &request.Info{
			IP:            ips.of(r),
			UserAgent:     r.UserAgent(),
			RefreshCookie: cookies.refreshCookie(r),
		}
		ctx := request.With(r.Context(), info)
		ctx = policy.WithAuthenticate(ctx, auth(bearer(r)))
		cw := &cookieWriter{ResponseWriter: w, info: info, cookies: cookies}
		next.ServeHTTP(cw, r.WithContext(ctx))
		cw.flushCookies()
	})
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// noStore keeps tokens out of caches.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noStoreHeader.setOn(w.Header())
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers every response carries
// (securityHeaderValues).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaderValues.setOn(w.Header())
		next.ServeHTTP(w, r)
	})
}

// limitBody refuses bodies over max bytes with 413: at once when
// Content-Length says so, else when reading passes the limit.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeRequestError(w, mediaJSON, errTooLarge(max))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

// corsFor allows the configured origins to call with credentials; with
// none configured, browsers allow same-origin calls only.
func corsFor(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   []string{"Authorization", "Content-Type", CSRFHeader, "X-Request-ID"},
		AllowCredentials: true,
		MaxAge:           600,
	}).Handler(next)
}
