// Package e2e drives the real gqlauth HTTP handler with real GraphQL
// documents, on SQLite and PostgreSQL, with the in-process and the Redis
// deny list.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/token"
)

const signUpDoc = `mutation($in: SignUpInput!) { signUp(input: $in) { ` + apptest.PayloadFields + ` } }`
const signInDoc = `mutation($in: SignInInput!) { signIn(input: $in) { ` + apptest.PayloadFields + ` } }`

func TestSignUpSignInMe(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		email := apptest.UniqueEmail("core")
		p := c.SignUp(t, email, "correct horse")
		if p.TokenType != "Bearer" || p.ExpiresIn != 900 || p.RefreshToken == nil || *p.RefreshToken == "" || p.AccessToken == "" {
			t.Fatalf("unexpected payload %+v", p)
		}
		if p.User.Role != "USER" || p.User.Email == nil || *p.User.Email != email {
			t.Fatalf("unexpected user %+v", p.User)
		}

		// The refresh token is stored only as its SHA-256, in a new session.
		sum := sha256.Sum256([]byte(*p.RefreshToken))
		rt, err := srv.DB.RefreshToken.Query().Where(refreshtoken.TokenHash(sum[:])).Only(context.Background())
		if err != nil {
			t.Fatalf("refresh token not stored by its hash: %v", err)
		}
		if rt.UserID.String() != p.User.ID || rt.RevokedAt != nil {
			t.Fatalf("stored token %+v does not belong to the new user", rt)
		}
		if d := time.Until(rt.ExpiresAt); d < 7*24*time.Hour-time.Minute || d > 7*24*time.Hour {
			t.Fatalf("refresh token expires in %v, want 7d", d)
		}

		c2 := srv.Client()
		p2 := c2.SignIn(t, email, "correct horse")
		var me struct{ Me struct{ ID, Email string } }
		c2.Do(t, `{ me { id email } }`, nil).Decode(t, &me)
		if me.Me.ID != p.User.ID || me.Me.Email != email {
			t.Fatalf("me = %+v, want %s %s", me.Me, p.User.ID, email)
		}
		// A second sign-in is a second session.
		if sessionOf(t, p.AccessToken) == sessionOf(t, p2.AccessToken) {
			t.Fatal("two sign-ins share a session id")
		}
	})
}

// sessionOf reads the sid claim of an access token without verifying it.
func sessionOf(t *testing.T, access string) string {
	t.Helper()
	return claims(t, access)["sid"].(string)
}

func TestAccessTokenClaims(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	c := srv.Client()
	res := c.Do(t, signUpDoc, map[string]any{"in": map[string]any{"email": "Claims@Example.com", "username": "Claimer", "password": "sunlit harbour 42"}})
	var out struct{ SignUp apptest.Payload }
	res.Decode(t, &out)
	access := out.SignUp.AccessToken

	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(access, ".")[0])
	var h map[string]any
	_ = json.Unmarshal(header, &h)
	if h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] != srv.Keys.Current().ID {
		t.Fatalf("header = %v, want typ at+jwt, alg ES256, kid %s (the key made at start)", h, srv.Keys.Current().ID)
	}
	cl := claims(t, access)
	for _, k := range []string{"iss", "sub", "sid", "jti", "iat", "exp", "role", "email", "username", "aud", "client_id"} {
		if _, ok := cl[k]; !ok {
			t.Errorf("claim %q missing from %v", k, cl)
		}
	}
	if cl["iss"] != "gqlauth" || cl["client_id"] != "gqlauth" || cl["sub"] != out.SignUp.User.ID || cl["role"] != "USER" || cl["email"] != "claims@example.com" || cl["username"] != "Claimer" {
		t.Fatalf("claims = %v", cl)
	}
	if exp, iat := cl["exp"].(float64), cl["iat"].(float64); exp-iat != 900 {
		t.Fatalf("exp - iat = %v, want 900", exp-iat)
	}
	if strings.Contains(strings.ToLower(string(mustJSON(cl))), "password") || strings.Contains(string(mustJSON(cl)), "$2a$") {
		t.Fatal("access token carries password material")
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestSignUpValidation(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	c := srv.Client()
	long := strings.Repeat("x", 101)
	cases := []struct {
		name   string
		in     map[string]any
		fields []string
	}{
		{"everything wrong at once", map[string]any{"email": "not-an-email", "username": "a!", "password": "short", "confirmPassword": "other", "firstName": long, "lastName": long, "age": 151},
			[]string{"email", "username", "password", "confirmPassword", "firstName", "lastName", "age"}},
		{"no email nor username", map[string]any{"password": "sunlit harbour 42"}, []string{"email"}},
		{"repetitive password", map[string]any{"email": "long@example.com", "password": strings.Repeat("p", 73)}, []string{"password"}},
		{"negative age", map[string]any{"email": "age@example.com", "password": "sunlit harbour 42", "age": -1}, []string{"age"}},
		{"email over 254 bytes", map[string]any{"email": strings.Repeat("a", 250) + "@example.com", "password": "sunlit harbour 42"}, []string{"email"}},
		{"username too long", map[string]any{"username": strings.Repeat("u", 33), "password": "sunlit harbour 42"}, []string{"username"}},
		{"NUL in name", map[string]any{"email": "nul@example.com", "password": "sunlit harbour 42", "firstName": "a\x00b"}, []string{"firstName"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := c.Do(t, signUpDoc, map[string]any{"in": tc.in})
			if res.Code() != "BAD_USER_INPUT" {
				t.Fatalf("code = %q, want BAD_USER_INPUT: %s", res.Code(), res.Body)
			}
			fields, _ := res.Errors[0].Extensions["fields"].(map[string]any)
			for _, f := range tc.fields {
				if fields[f] == nil || fields[f] == "" {
					t.Errorf("extensions.fields has no reason for %q: %v", f, fields)
				}
			}
			if len(fields) != len(tc.fields) {
				t.Errorf("fields = %v, want exactly %v", fields, tc.fields)
			}
		})
	}
	n, _ := srv.DB.User.Query().Count(context.Background())
	if n != 0 {
		t.Fatalf("invalid sign-ups stored %d users", n)
	}
}

func TestSignUpNormalisesAndConflicts(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		res := c.Do(t, signUpDoc, map[string]any{"in": map[string]any{"email": "  Mixed.Case@Example.COM ", "username": "Bob.Smith", "password": "sunlit harbour 42"}})
		var out struct{ SignUp apptest.Payload }
		res.Decode(t, &out)
		if *out.SignUp.User.Email != "mixed.case@example.com" || *out.SignUp.User.Username != "Bob.Smith" {
			t.Fatalf("stored %+v, want trimmed lower-case email and username as typed", out.SignUp.User)
		}
		for _, in := range []map[string]any{
			{"email": "MIXED.CASE@example.com", "password": "sunlit harbour 42"},
			{"username": "bob.smith", "password": "sunlit harbour 42"},
			{"username": "BOB.SMITH", "email": "other@example.com", "password": "sunlit harbour 42"},
		} {
			res := c.Do(t, signUpDoc, map[string]any{"in": in})
			if res.Code() != "CONFLICT" {
				t.Fatalf("duplicate %v: code %q, want CONFLICT: %s", in, res.Code(), res.Body)
			}
		}
		// Sign-in works with any case of the username and email.
		for _, in := range []map[string]any{
			{"username": "BOB.smith", "password": "sunlit harbour 42"},
			{"email": " Mixed.Case@example.com", "password": "sunlit harbour 42"},
		} {
			res := c.Do(t, signInDoc, map[string]any{"in": in})
			if len(res.Errors) != 0 {
				t.Fatalf("sign in with %v: %s", in, res.Body)
			}
		}
	})
}

func TestConcurrentSignUpsOneWins(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		const n = 8
		var wg sync.WaitGroup
		codes := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := srv.Client().Do(t, signUpDoc, map[string]any{"in": map[string]any{"email": "race@example.com", "password": "sunlit harbour 42"}})
				codes[i] = res.Code()
			}()
		}
		wg.Wait()
		ok, conflicts := 0, 0
		for _, c := range codes {
			switch c {
			case "":
				ok++
			case "CONFLICT":
				conflicts++
			default:
				t.Errorf("unexpected code %q", c)
			}
		}
		if ok != 1 || conflicts != n-1 {
			t.Fatalf("%d successes and %d conflicts, want 1 and %d", ok, conflicts, n-1)
		}
		count, _ := srv.DB.User.Query().Count(context.Background())
		if count != 1 {
			t.Fatalf("%d accounts stored, want 1", count)
		}
	})
}

func TestSignInFailures(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		long := strings.Repeat("a long passphrase ", 4) // 72 bytes
		c.Do(t, signUpDoc, map[string]any{"in": map[string]any{"email": "known@example.com", "username": "known", "password": long}}).Decode(t, &struct{}{})

		wrong := c.Do(t, signInDoc, map[string]any{"in": map[string]any{"email": "known@example.com", "password": "wrong-password"}})
		unknown := c.Do(t, signInDoc, map[string]any{"in": map[string]any{"email": "nobody@example.com", "password": "wrong-password"}})
		if wrong.Code() != "UNAUTHENTICATED" || unknown.Code() != "UNAUTHENTICATED" {
			t.Fatalf("codes %q %q, want UNAUTHENTICATED", wrong.Code(), unknown.Code())
		}
		if wrong.Errors[0].Message != unknown.Errors[0].Message {
			t.Fatalf("wrong password %q and unknown account %q must read the same", wrong.Errors[0].Message, unknown.Errors[0].Message)
		}
		// bcrypt reads 72 bytes, but the pre-hash sees them all: a longer
		// password sharing them does not sign in, and a password too long
		// for any account is refused unchecked.
		res := c.Do(t, signInDoc, map[string]any{"in": map[string]any{"email": "known@example.com", "password": long + "EXTRA"}})
		if res.Code() != "UNAUTHENTICATED" {
			t.Fatalf("73+ byte password sharing the first 72: %s", res.Body)
		}
		res = c.Do(t, signInDoc, map[string]any{"in": map[string]any{"email": "known@example.com", "password": strings.Repeat("x", 513)}})
		if res.Code() != "BAD_USER_INPUT" || res.Data != nil && string(res.Data) != "null" {
			t.Fatalf("513-byte password: %s", res.Body)
		}
		for name, in := range map[string]map[string]any{
			"both":    {"email": "known@example.com", "username": "known", "password": long},
			"neither": {"password": long},
		} {
			res := c.Do(t, signInDoc, map[string]any{"in": in})
			if res.Code() != "BAD_USER_INPUT" {
				t.Errorf("%s: code %q, want BAD_USER_INPUT", name, res.Code())
			}
		}
		res = c.Do(t, signInDoc, map[string]any{"in": map[string]any{"username": "KNOWN", "password": long}})
		if len(res.Errors) != 0 {
			t.Fatalf("right password refused: %s", res.Body)
		}
	})
}

func TestMeRejectsBadTokens(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"JWT_ACCESS_EXPIRES_IN": "2s"})
		c := srv.Client()
		p := c.SignUp(t, apptest.UniqueEmail("me"), "sunlit harbour 42")

		other := otherIssuer(t, token.ES256)
		forged, _, _ := other.Issue(token.Subject{UserID: uuid.MustParse(p.User.ID), SessionID: uuid.New(), Role: "ADMIN"})
		none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": p.User.ID, "iss": "gqlauth", "exp": time.Now().Add(time.Hour).Unix()})
		noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)

		for name, tok := range map[string]string{
			"missing":   "",
			"malformed": "not.a.jwt",
			"garbage":   "abc",
			"forged":    forged,
			"alg none":  noneTok,
			"tampered":  p.AccessToken[:len(p.AccessToken)-3] + "AAA",
		} {
			cl := srv.Client()
			cl.Token = tok
			res := cl.Do(t, `{ me { id } }`, nil)
			if res.Code() != "UNAUTHENTICATED" {
				t.Errorf("%s token: code %q, want UNAUTHENTICATED: %s", name, res.Code(), res.Body)
			}
		}
		// Expired (2s lifetime plus the 5s leeway).
		if testing.Short() {
			return
		}
		time.Sleep(7500 * time.Millisecond)
		if res := c.Do(t, `{ me { id } }`, nil); res.Code() != "UNAUTHENTICATED" {
			t.Fatalf("expired token: %s", res.Body)
		}
	})
}

func TestMeReadsFreshFromDatabase(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	c := srv.Client()
	p := c.SignUp(t, apptest.UniqueEmail("fresh"), "sunlit harbour 42")
	if err := srv.DB.User.UpdateOneID(uuid.MustParse(p.User.ID)).SetFirstName("Changed").Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	var me struct{ Me struct{ FirstName string } }
	c.Do(t, `{ me { firstName } }`, nil).Decode(t, &me)
	if me.Me.FirstName != "Changed" {
		t.Fatalf("me.firstName = %q, want the value now in the database", me.Me.FirstName)
	}
	// A deleted account's token no longer signs anyone in.
	if err := srv.DB.User.DeleteOneID(uuid.MustParse(p.User.ID)).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res := c.Do(t, `{ me { id } }`, nil); res.Code() != "UNAUTHENTICATED" {
		t.Fatalf("deleted user: %s", res.Body)
	}
}

func TestNoSecretsInSchema(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	res := srv.Client().Do(t, `{ __schema { types { name fields { name } inputFields { name } } } }`, nil)
	if len(res.Errors) > 0 {
		t.Fatalf("introspection: %s", res.Body)
	}
	body := strings.ToLower(string(res.Data))
	for _, secret := range []string{"passwordhash", "password_hash", "tokenhash", "token_hash", "sealed", "usernamekey"} {
		if strings.Contains(body, secret) {
			t.Errorf("schema exposes %q", secret)
		}
	}
	sdl, err := http.Get(srv.HTTP.URL + "/schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	defer sdl.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(sdl.Body)
	if sdl.StatusCode != 200 || !strings.Contains(buf.String(), "type AuthPayload") || strings.Contains(strings.ToLower(buf.String()), "passwordhash") {
		t.Fatalf("/schema.graphql: %d %.200s", sdl.StatusCode, buf.String())
	}
}

func TestInternalErrorsHideTheirCause(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	c := srv.Client()
	srv.DB.SQL.Close() // every query now fails inside database/sql
	res := c.Do(t, signInDoc, map[string]any{"in": map[string]any{"email": "x@example.com", "password": "sunlit harbour 42"}})
	if res.Code() != "INTERNAL_SERVER_ERROR" || res.Errors[0].Message != "internal error" {
		t.Fatalf("got %s", res.Body)
	}
	if strings.Contains(strings.ToLower(string(res.Body)), "sql") {
		t.Fatalf("response leaks the cause: %s", res.Body)
	}
	if !strings.Contains(srv.Logs.String(), "sql: database is closed") {
		t.Fatalf("the cause was not logged: %s", srv.Logs.String())
	}
}

func TestTransportsRefuseSimpleRequests(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	c := srv.Client()
	mutation := `mutation { signUp(input: {email: "csrf@example.com", password: "sunlit harbour 42"}) { accessToken } }`

	form := c.Post(t, "application/x-www-form-urlencoded", []byte("query="+mutation))
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	_ = w.WriteField("operations", string(mustJSON(map[string]any{"query": mutation})))
	_ = w.Close()
	multi := c.Post(t, w.FormDataContentType(), mp.Bytes())
	text := c.Post(t, "text/plain", mustJSON(map[string]any{"query": mutation}))

	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"?query="+strings.ReplaceAll(mutation, " ", "%20"), nil)
	get := c.Send(t, req)

	for name, res := range map[string]*apptest.Response{"form": form, "multipart": multi, "text/plain": text, "GET mutation": get} {
		if res.Status < 400 {
			t.Errorf("%s: status %d, want a refusal: %s", name, res.Status, res.Body)
		}
	}
	n, _ := srv.DB.User.Query().Count(context.Background())
	if n != 0 {
		t.Fatalf("a refused request created %d users", n)
	}
	// A query over GET is fine.
	req, _ = http.NewRequest(http.MethodGet, srv.URL()+"?query=%7B__typename%7D", nil)
	if res := c.Send(t, req); res.Status != 200 || len(res.Errors) > 0 {
		t.Fatalf("GET query: %d %s", res.Status, res.Body)
	}
}

func TestPlaygroundFollowsConfig(t *testing.T) {
	on := apptest.New(t, apptest.Backends[0], nil)
	res, err := http.Get(on.HTTP.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("playground in development: %d", res.StatusCode)
	}
	off := apptest.New(t, apptest.Backends[0], map[string]string{"PLAYGROUND_ENABLED": "false", "INTROSPECTION_ENABLED": "false"})
	res, err = http.Get(off.HTTP.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("playground disabled: %d, want 404", res.StatusCode)
	}
	if r := off.Client().Do(t, `{ __schema { types { name } } }`, nil); len(r.Errors) == 0 {
		t.Fatalf("introspection disabled but answered: %s", r.Body)
	}
}

// TestHostileUserAgentIsStoredSafely: the User-Agent is stored with each
// refresh token. Any bytes may arrive in it; PostgreSQL refuses invalid
// UTF-8, so sign-in must store a cleaned, bounded copy instead of failing.
func TestHostileUserAgentIsStoredSafely(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		p := c.SignUp(t, apptest.UniqueEmail("ua"), "sunlit harbour 42")
		c.Header.Set("User-Agent", "bad \xff\xfe bytes "+strings.Repeat("é", 400))
		c.SignIn(t, *p.User.Email, "sunlit harbour 42")
		var out struct {
			RefreshTokens []struct{ UserAgent string }
		}
		c.Do(t, `query($u: ID!) { refreshTokens(userId: $u) { userAgent } }`, map[string]any{"u": p.User.ID}).Decode(t, &out)
		ua := out.RefreshTokens[0].UserAgent
		if !utf8.ValidString(ua) || len(ua) > 512 || !strings.HasPrefix(ua, "bad ") {
			t.Fatalf("stored user agent %q (%d bytes): want valid UTF-8, at most 512 bytes", ua, len(ua))
		}
	})
}
