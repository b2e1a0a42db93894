package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/server"
)

// TestCSRFValueIsBoundToTheSession: whoever can plant cookies for the
// domain (a sibling subdomain) can set the CSRF cookie and send the same
// value in the header. The pair must not pass unless the server minted
// the value for the session of the refresh cookie: a made-up value, one
// shaped like the server's, one minted for the attacker's own session and
// a real one with its signature altered are all refused with the CSRF
// error (FORBIDDEN), by refresh, logout and revoke, and change nothing.
// The genuine value, echoed, still works.
func TestCSRFValueIsBoundToTheSession(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		victim := srv.Client()
		p := victim.SignUp(t, apptest.UniqueEmail("victim"), password)
		victim.Token = ""
		genuine := victim.Cookie(server.CSRFCookieName)

		attacker := srv.Client()
		attacker.SignUp(t, apptest.UniqueEmail("attacker"), password)
		theirs := attacker.Cookie(server.CSRFCookieName)
		if genuine == "" || theirs == "" || genuine == theirs {
			t.Fatalf("CSRF cookies %q and %q", genuine, theirs)
		}

		// plant sets the CSRF cookie in c's jar, as a sibling subdomain
		// could, and the same value in the header.
		plant := func(c *apptest.Client, value string) {
			u, _ := url.Parse(srv.HTTP.URL + "/")
			c.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: server.CSRFCookieName, Value: value, Path: "/"}})
			c.Header.Set(server.CSRFHeader, value)
			if c.Cookie(server.CSRFCookieName) != value {
				t.Fatalf("could not plant the CSRF cookie")
			}
		}
		random := func(n int) string {
			b := make([]byte, n)
			_, _ = rand.Read(b)
			return base64.RawURLEncoding.EncodeToString(b)
		}
		altered := []byte(genuine)
		altered[len(altered)-2] ^= 1
		for name, forged := range map[string]string{
			"made up":                    "forged-by-a-sibling-subdomain",
			"shaped like the server's":   random(16) + "." + random(32),
			"minted for another session": theirs,
			"genuine, signature altered": string(altered),
		} {
			t.Run(name, func(t *testing.T) {
				plant(victim, forged)
				wantCode(t, refresh(t, victim, ""), "FORBIDDEN")
				wantCode(t, logout(t, victim, "", ""), "FORBIDDEN")
				victim.Token = p.AccessToken
				wantCode(t, victim.Do(t, revokeDoc, nil), "FORBIDDEN")
				victim.Token = ""
				if rt := dbToken(t, srv, *p.RefreshToken); rt.RevokedAt != nil {
					t.Fatalf("a forged CSRF pair changed the session: %+v", rt)
				}
			})
		}

		// The real flow: the cookie the server set, echoed in the header.
		plant(victim, genuine)
		p1 := mustRefresh(t, victim, "")
		next := victim.Cookie(server.CSRFCookieName)
		if victim.Cookie("gqlauth_refresh") != *p1.RefreshToken || next == genuine || next == "" {
			t.Fatalf("cookie refresh did not rotate the cookies")
		}
		victim.Header.Set(server.CSRFHeader, next)
		mustRefresh(t, victim, "")
		victim.Header.Set(server.CSRFHeader, victim.Cookie(server.CSRFCookieName))
		wantOK(t, logout(t, victim, "", ""))
		if n := liveTokens(t, srv, dbToken(t, srv, *p.RefreshToken).SessionID); n != 0 {
			t.Fatalf("%d live tokens after logout", n)
		}
	})
}
