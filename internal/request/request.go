// Package request carries what the HTTP layer knows about a request down
// to the GraphQL resolvers and services as plain values (client address,
// user agent, the refresh cookie after its CSRF check), and carries back
// up what they ask of the session cookies, which the HTTP layer writes.
// Nothing here is an HTTP type: the domain never sees the *http.Request
// or the ResponseWriter.
package request

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Info is one GraphQL request as the HTTP layer saw it.
type Info struct {
	// IP is the client address: the socket peer, or X-Forwarded-For when
	// the peer is a trusted proxy.
	IP string
	// UserAgent is the client's User-Agent header.
	UserAgent string
	// RefreshCookie is the refresh cookie, if the request carried one.
	RefreshCookie RefreshCookie

	mu      sync.Mutex
	cookies *Cookies
}

// RefreshCookie is the refresh cookie of a request and the outcome of its
// CSRF check, made by the HTTP layer before any resolver runs.
type RefreshCookie struct {
	// Token is the cookie's refresh token; "" when the request has none,
	// or when Err says it cannot be used.
	Token string
	// Session is the session the request's CSRF value was signed for; the
	// token must belong to it.
	Session uuid.UUID
	// Err is why the cookie cannot be used (a missing or wrong CSRF
	// header), for operations that would act on it.
	Err error
}

// Cookies is what a request asks of the browser's session cookies.
type Cookies struct {
	// Clear removes the refresh and CSRF cookies.
	Clear bool
	// RefreshToken, when Clear is false, is the new refresh cookie, valid
	// until Expires, with a CSRF cookie signed for Session.
	RefreshToken string
	Session      uuid.UUID
	Expires      time.Time
}

type infoKey struct{}

// With returns ctx carrying info.
func With(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// From returns the request info of ctx; an empty Info outside a request
// (tests and the CLI call services directly).
func From(ctx context.Context) *Info {
	if info, ok := ctx.Value(infoKey{}).(*Info); ok {
		return info
	}
	return &Info{}
}

// SetSessionCookies asks for the refresh cookie to hold token, for
// session, until expires. The last request of a response wins.
func (i *Info) SetSessionCookies(token string, session uuid.UUID, expires time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.cookies = &Cookies{RefreshToken: token, Session: session, Expires: expires}
}

// ClearSessionCookies asks for the session cookies to be removed.
func (i *Info) ClearSessionCookies() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.cookies = &Cookies{Clear: true}
}

// TakeCookies returns what was asked of the session cookies, or nil, and
// forgets it: the HTTP layer writes it once, before the response body.
func (i *Info) TakeCookies() *Cookies {
	i.mu.Lock()
	defer i.mu.Unlock()
	c := i.cookies
	i.cookies = nil
	return c
}

// Truncate makes a client-supplied header safe to store: valid UTF-8
// (PostgreSQL refuses anything else in a text column, and a header may
// hold any bytes) and at most n bytes, cut at a character boundary.
func Truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
