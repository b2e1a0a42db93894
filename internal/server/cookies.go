package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/request"
)

// CSRFCookieName is the readable cookie whose value a browser client
// copies into the CSRFHeader (the double-submit pattern). Another site can
// make the browser send the cookie but cannot read it to set the header.
//
// The value is signed (OWASP's "signed double-submit cookie"): an HMAC,
// under the server's CSRF key, of the session id and a random nonce. A
// cookie is not proof of anything, since whoever controls a sibling
// subdomain can plant one for the whole domain, with a matching header;
// but it cannot mint a value that verifies, and one minted for the
// planter's own session names that session, which the refresh token in
// the victim's cookie does not belong to (internal/session checks).
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
	// CSRFKey signs the CSRF values (HMAC-SHA256).
	CSRFKey []byte
}

// errCSRF refuses a cookie-authenticated request without the CSRF header,
// with a header that differs from the CSRF cookie, or with a CSRF value
// the server did not mint.
var errCSRF = apierr.New(apierr.Forbidden, "missing or wrong X-CSRF-Token header: a request that uses the refresh cookie must echo the gqlauth_csrf cookie in it")

// refreshCookie reads the refresh cookie of r and checks its CSRF pair:
// the X-CSRF-Token header must equal the CSRF cookie, and the value must
// be one this server signed. The session it was signed for goes down with
// the token, which must belong to it.
func (c CookieSettings) refreshCookie(r *http.Request) request.RefreshCookie {
	rc, err := r.Cookie(c.RefreshName)
	if err != nil || rc.Value == "" {
		return request.RefreshCookie{}
	}
	csrf, err := r.Cookie(CSRFCookieName)
	header := r.Header.Get(CSRFHeader)
	if err != nil || csrf.Value == "" || subtle.ConstantTimeCompare([]byte(csrf.Value), []byte(header)) != 1 {
		return request.RefreshCookie{Err: errCSRF}
	}
	sid, ok := c.verifyCSRF(header)
	if !ok {
		return request.RefreshCookie{Err: errCSRF}
	}
	return request.RefreshCookie{Token: rc.Value, Session: sid}
}

// write carries out what the resolvers asked of the session cookies.
func (c CookieSettings) write(w http.ResponseWriter, want *request.Cookies) {
	if want.Clear {
		http.SetCookie(w, &http.Cookie{
			Name: c.RefreshName, Path: "/graphql", Domain: c.Domain, MaxAge: -1,
			HttpOnly: true, Secure: c.Secure, SameSite: c.SameSite,
		})
		http.SetCookie(w, &http.Cookie{
			Name: CSRFCookieName, Path: "/", Domain: c.Domain, MaxAge: -1,
			Secure: c.Secure, SameSite: c.SameSite,
		})
		return
	}
	// The browser gets a refresh token it cannot read (HttpOnly, sent
	// only to /graphql) and a fresh CSRF value it can, signed for the
	// session.
	maxAge := int(time.Until(want.Expires).Seconds())
	if maxAge < 1 {
		maxAge = 1
	}
	http.SetCookie(w, &http.Cookie{
		Name: c.RefreshName, Value: want.RefreshToken, Path: "/graphql", Domain: c.Domain,
		MaxAge: maxAge, HttpOnly: true, Secure: c.Secure, SameSite: c.SameSite,
	})
	http.SetCookie(w, &http.Cookie{
		Name: CSRFCookieName, Value: c.mintCSRF(want.Session), Path: "/", Domain: c.Domain,
		MaxAge: maxAge, Secure: c.Secure, SameSite: c.SameSite,
	})
}

// csrfNonceBytes is the size of a CSRF value's random nonce.
const csrfNonceBytes = 16

// csrfMAC is the signature of a CSRF value: HMAC-SHA256 under key of a
// domain label, the session id and the nonce.
func csrfMAC(key []byte, session uuid.UUID, nonce []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("gqlauth csrf v1\x00"))
	m.Write(session[:])
	m.Write(nonce)
	return m.Sum(nil)
}

// mintCSRF returns a new CSRF value for session:
// base64url(session id ‖ nonce) "." base64url(mac).
func (c CookieSettings) mintCSRF(session uuid.UUID) string {
	body := make([]byte, 16+csrfNonceBytes)
	copy(body, session[:])
	_, _ = rand.Read(body[16:])
	enc := base64.RawURLEncoding
	return enc.EncodeToString(body) + "." + enc.EncodeToString(csrfMAC(c.CSRFKey, session, body[16:]))
}

// verifyCSRF returns the session a CSRF value was minted for, if this
// server minted it.
func (c CookieSettings) verifyCSRF(value string) (uuid.UUID, bool) {
	enc := base64.RawURLEncoding
	b, m, ok := strings.Cut(value, ".")
	if !ok {
		return uuid.Nil, false
	}
	body, err1 := enc.DecodeString(b)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || len(body) != 16+csrfNonceBytes {
		return uuid.Nil, false
	}
	session := uuid.UUID(body[:16])
	if !hmac.Equal(mac, csrfMAC(c.CSRFKey, session, body[16:])) {
		return uuid.Nil, false
	}
	return session, true
}

// cookieWriter writes the session cookies the resolvers asked for just
// before the response's status line, which gqlgen writes after every
// resolver of the request has run (so after every commit).
type cookieWriter struct {
	http.ResponseWriter
	info    *request.Info
	cookies CookieSettings
	wrote   bool
}

func (w *cookieWriter) flushCookies() {
	if w.wrote {
		return
	}
	w.wrote = true
	if want := w.info.TakeCookies(); want != nil {
		w.cookies.write(w.ResponseWriter, want)
	}
}

func (w *cookieWriter) WriteHeader(code int) {
	w.flushCookies()
	w.ResponseWriter.WriteHeader(code)
}

func (w *cookieWriter) Write(b []byte) (int, error) {
	w.flushCookies()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *cookieWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
