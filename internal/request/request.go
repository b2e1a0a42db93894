// Package request carries what the HTTP layer knows about a request
// (client address, user agent, cookies, the response writer for
// Set-Cookie) down to the GraphQL resolvers and services, which never see
// the *http.Request itself.
package request

import (
	"context"
	"net/http"
)

// Info is the HTTP side of one GraphQL request.
type Info struct {
	// IP is the client address: the socket peer, or X-Forwarded-For when
	// the peer is a trusted proxy.
	IP string
	// UserAgent is the client's User-Agent header.
	UserAgent string
	// Bearer is the token of the Authorization: Bearer header, if any.
	Bearer string
	// Request is the incoming request, for reading cookies and headers.
	Request *http.Request
	// Writer is the response, for setting cookies before the body is written.
	Writer http.ResponseWriter
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

// Cookie returns the value of the named request cookie, or "".
func (i *Info) Cookie(name string) string {
	if i.Request == nil {
		return ""
	}
	c, err := i.Request.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// SetCookie adds a Set-Cookie header to the response, if there is one.
func (i *Info) SetCookie(c *http.Cookie) {
	if i.Writer != nil {
		http.SetCookie(i.Writer, c)
	}
}
