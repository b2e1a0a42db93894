package auth

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
// but it cannot mint a value that verifies for the victim's session,
// which gqlauth checks once it has loaded the refresh token.
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
	// CSRFKey signs the CSRF values (HMAC-SHA256); NewService makes a
	// random one when it is empty.
	CSRFKey []byte
}

// setSessionCookies hands the browser a refresh token it cannot read
// (HttpOnly, sent only to /graphql) and a fresh CSRF value it can, signed
// for the session.
func (c CookieSettings) setSessionCookies(info *request.Info, refreshToken string, session uuid.UUID, expires time.Time) {
	maxAge := int(time.Until(expires).Seconds())
	if maxAge < 1 {
		maxAge = 1
	}
	info.SetCookie(&http.Cookie{
		Name: c.RefreshName, Value: refreshToken, Path: "/graphql", Domain: c.Domain,
		MaxAge: maxAge, HttpOnly: true, Secure: c.Secure, SameSite: c.SameSite,
	})
	info.SetCookie(&http.Cookie{
		Name: CSRFCookieName, Value: c.mintCSRF(session), Path: "/", Domain: c.Domain,
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

// mintCSRF returns a new CSRF value for session: base64url(nonce) "."
// base64url(mac).
func (c CookieSettings) mintCSRF(session uuid.UUID) string {
	nonce := make([]byte, csrfNonceBytes)
	_, _ = rand.Read(nonce)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(nonce) + "." + enc.EncodeToString(csrfMAC(c.CSRFKey, session, nonce))
}

// validCSRF reports whether value was minted by this server for session.
func (c CookieSettings) validCSRF(value string, session uuid.UUID) bool {
	n, m, ok := strings.Cut(value, ".")
	if !ok {
		return false
	}
	enc := base64.RawURLEncoding
	nonce, err1 := enc.DecodeString(n)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || len(nonce) != csrfNonceBytes {
		return false
	}
	return hmac.Equal(mac, csrfMAC(c.CSRFKey, session, nonce))
}

// errCSRF refuses a cookie-authenticated request without the CSRF header,
// with a header that differs from the CSRF cookie, or with a CSRF value
// the server did not mint for the refresh token's session.
var errCSRF = apierr.New(apierr.Forbidden, "missing or wrong X-CSRF-Token header: a request that uses the refresh cookie must echo the gqlauth_csrf cookie in it")

// presentedToken is the refresh token a request acts on, and how it came.
type presentedToken struct {
	raw string
	// fromCookie: raw is the refresh cookie, and csrf the X-CSRF-Token
	// header that came with it, still to be verified against raw's
	// session (verifySession) once the token is loaded.
	fromCookie bool
	csrf       string
}

// refreshTokenFrom returns the refresh token an operation acts on: the
// argument when given, else the refresh cookie, which is honoured only
// with a CSRF header equal to the CSRF cookie. Its raw is "" when there is
// neither. The caller must call verifySession with the token's session.
func (c CookieSettings) refreshTokenFrom(info *request.Info, arg *string) (presentedToken, error) {
	if arg != nil && *arg != "" {
		return presentedToken{raw: *arg}, nil
	}
	cookie := info.Cookie(c.RefreshName)
	if cookie == "" {
		return presentedToken{}, nil
	}
	csrf := info.Cookie(CSRFCookieName)
	header := ""
	if info.Request != nil {
		header = info.Request.Header.Get(CSRFHeader)
	}
	if csrf == "" || subtle.ConstantTimeCompare([]byte(csrf), []byte(header)) != 1 {
		return presentedToken{}, errCSRF
	}
	return presentedToken{raw: cookie, fromCookie: true, csrf: header}, nil
}

// verifySession refuses a token taken from the cookie unless its CSRF
// value was minted for session, the session of the stored token. The
// cookie and header being equal proves nothing on its own: both can be
// planted.
func (c CookieSettings) verifySession(p presentedToken, session uuid.UUID) error {
	if p.fromCookie && !c.validCSRF(p.csrf, session) {
		return errCSRF
	}
	return nil
}
