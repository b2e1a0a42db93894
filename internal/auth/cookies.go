package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/request"
)

// CSRFCookieName is the readable cookie whose value a browser client
// copies into the CSRFHeader (the double-submit pattern). Another site can
// make the browser send the cookie but cannot read it to set the header.
const (
	CSRFCookieName = "gqlauth_csrf"
	CSRFHeader     = "X-CSRF-Token"
)

// CookieSettings shape the refresh-token and CSRF cookies.
type CookieSettings struct {
	RefreshName string
	Secure      bool
	SameSite    http.SameSite
	Domain      string
}

// setSessionCookies hands the browser a refresh token it cannot read
// (HttpOnly, sent only to /graphql) and a fresh CSRF value it can.
func (c CookieSettings) setSessionCookies(info *request.Info, refreshToken string, expires time.Time) {
	maxAge := int(time.Until(expires).Seconds())
	if maxAge < 1 {
		maxAge = 1
	}
	info.SetCookie(&http.Cookie{
		Name: c.RefreshName, Value: refreshToken, Path: "/graphql", Domain: c.Domain,
		MaxAge: maxAge, HttpOnly: true, Secure: c.Secure, SameSite: c.SameSite,
	})
	info.SetCookie(&http.Cookie{
		Name: CSRFCookieName, Value: rand.Text(), Path: "/", Domain: c.Domain,
		MaxAge: maxAge, Secure: c.Secure, SameSite: c.SameSite,
	})
}

// clear removes both cookies.
func (c CookieSettings) clear(info *request.Info) {
	info.SetCookie(&http.Cookie{
		Name: c.RefreshName, Path: "/graphql", Domain: c.Domain, MaxAge: -1,
		HttpOnly: true, Secure: c.Secure, SameSite: c.SameSite,
	})
	info.SetCookie(&http.Cookie{
		Name: CSRFCookieName, Path: "/", Domain: c.Domain, MaxAge: -1,
		Secure: c.Secure, SameSite: c.SameSite,
	})
}

// errCSRF refuses a cookie-authenticated request without the CSRF header.
var errCSRF = apierr.New(apierr.Forbidden, "missing or wrong X-CSRF-Token header: a request that uses the refresh cookie must echo the gqlauth_csrf cookie in it")

// refreshTokenFrom returns the refresh token an operation acts on: the
// argument when given, else the refresh cookie, which is honoured only
// with a matching CSRF header. It returns "" when there is neither.
func (c CookieSettings) refreshTokenFrom(info *request.Info, arg *string) (string, error) {
	if arg != nil && *arg != "" {
		return *arg, nil
	}
	cookie := info.Cookie(c.RefreshName)
	if cookie == "" {
		return "", nil
	}
	csrf := info.Cookie(CSRFCookieName)
	header := ""
	if info.Request != nil {
		header = info.Request.Header.Get(CSRFHeader)
	}
	if csrf == "" || subtle.ConstantTimeCompare([]byte(csrf), []byte(header)) != 1 {
		return "", errCSRF
	}
	return cookie, nil
}
