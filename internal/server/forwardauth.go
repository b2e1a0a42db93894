package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gqlauth/gqlauth/internal/apierr"
)

// ForwardAuthPath is the forward-auth endpoint reverse proxies ask
// before passing a request on (nginx auth_request, Traefik forwardAuth,
// Caddy forward_auth, Envoy ext_authz over HTTP, which appends the
// original path: /auth/verify/… answers too).
const ForwardAuthPath = "/auth/verify"

// Identity is who a valid access token speaks for, as the forward-auth
// endpoint hands it to the upstream in X-Auth-* headers.
type Identity struct {
	UserID    string
	SessionID string
	// Role is USER or ADMIN (an ADMIN's role re-read from the database).
	Role string
	// Email is empty when the token carries none.
	Email string
	// AAL is the session's assurance level when the token was issued (1
	// or 2); ?aal=2 refuses less.
	AAL int
}

// Authenticate checks a bearer token: its signature, claims and the deny
// list. Errors carry apierr codes: UNAUTHENTICATED for a token that is not
// valid (401), SERVICE_UNAVAILABLE when the deny list cannot be asked
// (503: fail closed); anything else is a 500.
type Authenticate func(ctx context.Context, bearer string) (Identity, error)

// The headers the forward-auth endpoint sets for the upstream.
const (
	HeaderUserID    = "X-Auth-User-Id"
	HeaderSessionID = "X-Auth-Session-Id"
	HeaderRole      = "X-Auth-Role"
	HeaderEmail     = "X-Auth-Email"
	HeaderAAL       = "X-Auth-AAL"
)

// forwardAuth answers a proxy's question "may this request pass?" from
// its Authorization header alone, for any method: 200 with the X-Auth-*
// headers, 401 with WWW-Authenticate (RFC 6750), 403 when ?role= names a
// role the user lacks, 503 when the deny list cannot be asked. No body is
// read and none is written: this runs before every proxied request.
func forwardAuth(authenticate Authenticate, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		noStoreHeader.setOn(h)
		tok := bearer(r)
		if tok == "" {
			h.Set("WWW-Authenticate", `Bearer realm="gqlauth"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id, err := authenticate(r.Context(), tok)
		if err != nil {
			var e *apierr.Error
			switch {
			case errors.As(err, &e) && e.Code == apierr.Unauthenticated:
				h.Set("WWW-Authenticate", `Bearer realm="gqlauth", error="invalid_token"`)
				w.WriteHeader(http.StatusUnauthorized)
			case errors.As(err, &e) && e.Code == apierr.ServiceUnavailable:
				log.WarnContext(r.Context(), "forward auth: the deny list cannot be asked; refusing", "error", err)
				h.Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
			default:
				log.ErrorContext(r.Context(), "forward auth failed", "error", err)
				w.WriteHeader(http.StatusInternalServerError)
			}
			return
		}
		if want := r.URL.Query().Get("role"); want != "" && !strings.EqualFold(want, id.Role) {
			h.Set("WWW-Authenticate", `Bearer realm="gqlauth", error="insufficient_scope"`)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if want := r.URL.Query().Get("aal"); want != "" && !meetsAAL(id.AAL, want) {
			// RFC 9470 (step-up authentication): the client must raise
			// the session's level, not merely get a new token.
			h.Set("WWW-Authenticate", `Bearer realm="gqlauth", error="insufficient_user_authentication", error_description="a second factor is required", acr_values="aal2"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.Set(HeaderUserID, id.UserID)
		h.Set(HeaderSessionID, id.SessionID)
		h.Set(HeaderRole, id.Role)
		if id.Email != "" {
			h.Set(HeaderEmail, id.Email)
		}
		h.Set(HeaderAAL, strconv.Itoa(max(id.AAL, 1)))
		// No WriteHeader(200): net/http answers 200 with an empty body
		// when the handler returns, without first copying the header map.
	})
}

// meetsAAL reports whether level satisfies ?aal=want ("1", "2", or
// "aal1", "aal2"). A value it cannot read is never met: a typo fails
// closed.
func meetsAAL(level int, want string) bool {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.ToLower(want), "aal"))
	if err != nil || n < 1 {
		return false
	}
	return max(level, 1) >= n
}
