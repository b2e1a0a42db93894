package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/server"
)

// accessLines returns the access-log lines of the request with this id.
func opsAccessLines(logs, id string) []string {
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "msg=request ") && strings.Contains(line, "request_id="+id) {
			out = append(out, line)
		}
	}
	return out
}

func TestAccessLogAndRequestID(t *testing.T) {
	srv := apptest.New(t, apptest.Backend{Name: "sqlite"}, nil)
	c := srv.Client()
	c.Header.Set("X-Request-ID", "trace-abc.123")
	res := c.Do(t, opsSignUpDoc, map[string]any{"in": map[string]any{"email": apptest.UniqueEmail("log"), "password": "correct horse"}})
	if got := res.Header.Get("X-Request-ID"); got != "trace-abc.123" {
		t.Fatalf("X-Request-ID echoed as %q, want the client's", got)
	}
	lines := opsAccessLines(srv.Logs.String(), "trace-abc.123")
	if len(lines) != 1 {
		t.Fatalf("want one access line for the request, got %d:\n%s", len(lines), srv.Logs.String())
	}
	for _, want := range []string{"operation=SignUp", "code=OK", "status=200", "path=/graphql", "method=POST", "duration_ms="} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("access line lacks %q: %s", want, lines[0])
		}
	}

	// An id that could forge log lines or headers is replaced.
	c.Header.Set("X-Request-ID", "evil id\" msg=forged")
	res = c.Do(t, `query Anonymous { __typename }`, nil)
	got := res.Header.Get("X-Request-ID")
	if !regexp.MustCompile(`^[A-Z2-7]{26}$`).MatchString(got) {
		t.Fatalf("insane X-Request-ID replaced by %q, want a generated id", got)
	}
	if lines := opsAccessLines(srv.Logs.String(), got); len(lines) != 1 || strings.Contains(srv.Logs.String(), "forged") {
		t.Fatalf("generated id %s: %d access lines; logs:\n%s", got, len(lines), srv.Logs.String())
	}

	// Without the header, every response still carries an id.
	c.Header.Del("X-Request-ID")
	if res := c.Do(t, `{ __typename }`, nil); res.Header.Get("X-Request-ID") == "" {
		t.Fatal("response without X-Request-ID")
	}
}

// TestLogsHoldNoSecrets signs up, signs in (right and wrong passwords),
// refreshes by argument and by cookie, calls me and sends a password in
// a GET query string, then checks that no password, token or cookie value
// appears anywhere in what the server logged.
func TestLogsHoldNoSecrets(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		email := apptest.UniqueEmail("secrets")
		const password, wrong = "s3cret-Passw0rd-for-logs", "wr0ng-Passw0rd-for-logs"
		secrets := []string{password, wrong}

		up := c.SignUp(t, email, password)
		secrets = append(secrets, up.AccessToken, *up.RefreshToken)
		if res := c.Do(t, opsSignInDoc, map[string]any{"in": map[string]any{"email": email, "password": wrong}}); res.Code() != "UNAUTHENTICATED" {
			t.Fatalf("wrong password: %s", res.Body)
		}
		in := c.SignIn(t, email, password)
		secrets = append(secrets, in.AccessToken, *in.RefreshToken, c.Cookie("gqlauth_refresh"), c.Cookie(server.CSRFCookieName))

		var byArg struct {
			Refresh struct{ AccessToken, RefreshToken string }
		}
		c.Do(t, opsRefreshDoc, map[string]any{"t": *up.RefreshToken}).Decode(t, &byArg)
		secrets = append(secrets, byArg.Refresh.AccessToken, byArg.Refresh.RefreshToken)

		// By cookie, with the CSRF header; then once without it (refused).
		c.Header.Set(server.CSRFHeader, c.Cookie(server.CSRFCookieName))
		var byCookie struct {
			Refresh struct{ AccessToken, RefreshToken string }
		}
		c.Do(t, opsRefreshDoc, nil).Decode(t, &byCookie)
		secrets = append(secrets, byCookie.Refresh.AccessToken, byCookie.Refresh.RefreshToken, c.Cookie("gqlauth_refresh"), c.Cookie(server.CSRFCookieName))
		c.Header.Del(server.CSRFHeader)
		if res := c.Do(t, opsRefreshDoc, nil); res.Code() != "FORBIDDEN" {
			t.Fatalf("cookie refresh without CSRF header: %s", res.Body)
		}

		c.Token = byCookie.Refresh.AccessToken
		c.Do(t, opsMeDoc, nil).Decode(t, &struct{}{})
		c.Token = "not-a-jwt-but-a-secret-all-the-same"
		secrets = append(secrets, c.Token)
		c.Do(t, opsMeDoc, nil)

		q := url.Values{"query": {`query Leak($p: String!) { __typename }`}, "variables": {`{"p":"` + password + `"}`}}
		req, _ := http.NewRequest(http.MethodGet, srv.URL()+"?"+q.Encode(), nil)
		c.Send(t, req)

		logs := srv.Logs.String()
		if n := strings.Count(logs, "msg=request "); n < 9 {
			t.Fatalf("expected an access line per request, found %d:\n%s", n, logs)
		}
		for _, s := range secrets {
			if s == "" {
				t.Fatal("a secret to look for is empty: the test lost track of a token")
			}
			if strings.Contains(logs, s) {
				t.Errorf("the logs contain a secret (%.8s…):\n%s", s, logs)
			}
			// A JWT's signature alone is enough to find it out.
			if parts := strings.Split(s, "."); len(parts) == 3 && strings.Contains(logs, parts[2]) {
				t.Errorf("the logs contain a token signature (%.8s…)", parts[2])
			}
		}
	})
}
