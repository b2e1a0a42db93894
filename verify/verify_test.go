package verify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/authn/totp"
	"github.com/gqlauth/gqlauth/internal/token"
	"github.com/gqlauth/gqlauth/verify"
)

// newVerifier verifies the tokens of srv, refetching its JWKS every
// refresh; with deny, against the deny list in srv's Redis.
func newVerifier(t *testing.T, srv *apptest.Server, refresh time.Duration, deny bool) *verify.Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := verify.Config{
		JWKSURL:           srv.HTTP.URL + "/.well-known/jwks.json",
		Issuer:            srv.Config.JWTIssuer,
		Audience:          srv.Config.JWTAudience,
		RefreshInterval:   refresh,
		UnknownKIDRefresh: 100 * time.Millisecond,
		Log:               slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if deny {
		opts, err := redis.ParseURL(srv.Config.RedisURL)
		if err != nil {
			t.Fatal(err)
		}
		rdb := redis.NewClient(opts)
		t.Cleanup(func() { rdb.Close() })
		cfg.DenyList = verify.NewRedisDenyList(rdb, srv.Config.RedisKeyPrefix)
	}
	v, err := verify.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func rotate(t *testing.T, srv *apptest.Server, alg token.Algorithm) *token.Key {
	t.Helper()
	ctx := context.Background()
	if _, err := srv.KeyStore.Create(ctx, alg); err != nil {
		t.Fatal(err)
	}
	res, err := srv.KeyStore.Rotate(ctx, token.RotateOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	return res.Current
}

// TestVerifierAcceptsGqlauthTokens: tokens of every asymmetric algorithm,
// including a key made current after the verifier started (an unknown
// kid fetches the JWKS again), verify with the claims gqlauth wrote.
func TestVerifierAcceptsGqlauthTokens(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], map[string]string{"JWT_CLIENT_ID": "web"})
	v := newVerifier(t, srv, time.Hour, false)
	for _, alg := range []token.Algorithm{token.ES256, token.EdDSA, token.RS256} {
		key := rotate(t, srv, alg)
		email := apptest.UniqueEmail("v")
		p := srv.Client().SignUp(t, email, "correct horse")
		c, err := v.Verify(context.Background(), p.AccessToken)
		if err != nil {
			t.Fatalf("%s token (kid %s): %v", alg, key.ID, err)
		}
		if c.Subject != p.User.ID || c.Email != email || c.Role != "USER" || c.ClientID != "web" || c.SessionID == "" ||
			c.EmailVerified == nil || *c.EmailVerified {
			t.Fatalf("%s claims %+v", alg, c)
		}
	}
}

// TestVerifierRefuses: what gqlauth refuses, the verifier refuses too:
// HS256 (even the legacy key's real tokens), alg none, a token without
// kid, an alg that is not the key's, HS256 keyed with a public JWK,
// another issuer's key, wrong iss, aud or typ, an expired token.
func TestVerifierRefuses(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	v := newVerifier(t, srv, time.Hour, false)
	p := srv.Client().SignUp(t, apptest.UniqueEmail("v"), "correct horse")
	parts := strings.Split(p.AccessToken, ".")
	var claims jwt.MapClaims
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(raw, &claims)
	kid := srv.Keys.Current().ID
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	jwk := srv.Keys.Current().PublicJWK()

	hs := func(h map[string]any, c jwt.MapClaims, secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tok.Header = h
		s, _ := tok.SignedString(secret)
		return s
	}
	// A key of our own, to sign claims gqlauth would not.
	own, _ := token.GenerateKey(token.ES256)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	posing := func(c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		tok.Header["typ"], tok.Header["kid"] = "at+jwt", kid
		s, _ := tok.SignedString(stranger)
		return s
	}
	signed := func(c jwt.MapClaims, typ string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		tok.Header["typ"] = typ
		s, _ := own.Sign(tok)
		return s
	}
	with := func(k string, val any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for name, x := range claims {
			c[name] = x
		}
		c[k] = val
		return c
	}
	legacy := apptest.New(t, apptest.Backends[0], map[string]string{"JWT_ACCESS_SECRET": apptest.JWTSecret})
	legacyToken := legacy.Client().SignUp(t, apptest.UniqueEmail("legacy"), "correct horse").AccessToken

	for name, tok := range map[string]string{
		"legacy HS256 token":              legacyToken,
		"alg none":                        enc(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + ".",
		"no kid":                          enc(map[string]any{"alg": "ES256", "typ": "at+jwt"}) + "." + parts[1] + "." + parts[2],
		"alg EdDSA on an ES256 key":       enc(map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + "." + parts[2],
		"HS256 keyed with the public JWK": hs(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims, jwk),
		"signed by another key, our kid":  posing(claims),
		"payload edited":                  parts[0] + "." + enc(with("role", "ADMIN")) + "." + parts[2],
		"typ JWT":                         enc(map[string]any{"alg": "ES256", "typ": "JWT", "kid": kid}) + "." + parts[1] + "." + parts[2],
		"unknown kid":                     enc(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": uuid.NewString()}) + "." + parts[1] + "." + parts[2],
	} {
		if c, err := v.Verify(context.Background(), tok); !errors.Is(err, verify.ErrInvalidToken) || c != nil {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}

	// Claims checks, with a verifier that trusts our own key: only the
	// claims are wrong.
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[` + string(own.PublicJWK()) + `]}`))
	}))
	t.Cleanup(jwks.Close)
	mine, err := verify.New(context.Background(), verify.Config{JWKSURL: jwks.URL, Issuer: "gqlauth", Audience: "gqlauth"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mine.Verify(context.Background(), signed(claims, "at+jwt")); err != nil {
		t.Fatalf("the control token: %v", err)
	}
	now := time.Now()
	for name, tok := range map[string]string{
		"wrong iss":           signed(with("iss", "someone-else"), "at+jwt"),
		"wrong aud":           signed(with("aud", []string{"other"}), "at+jwt"),
		"typ JWT":             signed(claims, "JWT"),
		"expired":             signed(with("exp", now.Add(-time.Minute).Unix()), "at+jwt"),
		"expired, in leeway":  "",
		"not yet valid (nbf)": signed(with("nbf", now.Add(time.Minute).Unix()), "at+jwt"),
		"no sid":              signed(with("sid", ""), "at+jwt"),
	} {
		if tok == "" {
			if _, err := mine.Verify(context.Background(), signed(with("exp", now.Add(-2*time.Second).Unix()), "at+jwt")); err != nil {
				t.Errorf("%s: %v, want accepted", name, err)
			}
			continue
		}
		if _, err := mine.Verify(context.Background(), tok); !errors.Is(err, verify.ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
}

// TestVerifierDenyList: the deny list gqlauth writes (layout version 2)
// is the one the verifier reads: a logout, a session revocation and a
// logout everywhere each refuse the right tokens; with Redis down, the
// answer is ErrDenyListUnavailable and the middleware's 503.
func TestVerifierDenyList(t *testing.T) {
	if verify.DenyListLayout != 2 {
		t.Fatalf("DenyListLayout %d: update this test and docs/verifying.md", verify.DenyListLayout)
	}
	srv := apptest.New(t, apptest.Backend{Name: "sqlite+redis", Redis: true}, nil)
	v := newVerifier(t, srv, time.Hour, true)
	ctx := context.Background()
	check := func(tok string, want bool) {
		t.Helper()
		_, err := v.Verify(ctx, tok)
		if want && err != nil {
			t.Fatalf("want accepted: %v", err)
		}
		if !want && !errors.Is(err, verify.ErrInvalidToken) {
			t.Fatalf("want refused: %v", err)
		}
	}
	a := srv.Client()
	email := apptest.UniqueEmail("deny")
	first := a.SignUp(t, email, "correct horse").AccessToken
	b := srv.Client()
	second := b.SignIn(t, email, "correct horse").AccessToken
	check(first, true)
	check(second, true)

	// Deny by jti (the token), then by sid (the session), then the user.
	if err := srv.Deny.DenyToken(ctx, claimOf(t, first, "sub"), claimOf(t, first, "jti")); err != nil {
		t.Fatal(err)
	}
	check(first, false)
	check(second, true)
	if err := srv.Deny.DenySessions(ctx, claimOf(t, second, "sub"), claimOf(t, second, "sid")); err != nil {
		t.Fatal(err)
	}
	check(second, false)
	third := srv.Client().SignIn(t, email, "correct horse").AccessToken
	check(third, true)
	if err := srv.Deny.DenyUserBefore(ctx, claimOf(t, third, "sub"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	check(third, false)

	// Redis down: fail closed.
	down := verify.NewRedisDenyList(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), "x:")
	vDown, err := verify.New(ctx, verify.Config{JWKSURL: srv.HTTP.URL + "/.well-known/jwks.json", Issuer: "gqlauth", Audience: "gqlauth", DenyList: down})
	if err != nil {
		t.Fatal(err)
	}
	fresh := srv.Client().SignUp(t, apptest.UniqueEmail("down"), "correct horse").AccessToken
	if _, err := vDown.Verify(ctx, fresh); !errors.Is(err, verify.ErrDenyListUnavailable) {
		t.Fatalf("Redis down: %v", err)
	}
	// No epoch under the prefix (Redis lost the index, gqlauth has not
	// rebuilt it yet): the answer is unknown too.
	noEpoch := verify.NewRedisDenyList(srv.Redis, "no-index-here:")
	vNoEpoch, err := verify.New(ctx, verify.Config{JWKSURL: srv.HTTP.URL + "/.well-known/jwks.json", Issuer: "gqlauth", Audience: "gqlauth", DenyList: noEpoch})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vNoEpoch.Verify(ctx, fresh); !errors.Is(err, verify.ErrDenyListUnavailable) {
		t.Fatalf("no epoch: %v", err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+fresh)
	vDown.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("passed with the deny list down") })).ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("middleware with Redis down: %d", rec.Code)
	}
}

// claimOf reads one string claim of a JWT without verifying it.
func claimOf(t *testing.T, jwt, name string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	s, _ := m[name].(string)
	return s
}

// TestMiddleware: 401 with WWW-Authenticate without or with a bad token;
// the claims in the context with a good one.
func TestMiddleware(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	v := newVerifier(t, srv, time.Hour, false)
	p := srv.Client().SignUp(t, apptest.UniqueEmail("mw"), "correct horse")
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := verify.ClaimsFrom(r.Context())
		if !ok {
			t.Error("no claims in the context")
			return
		}
		_, _ = io.WriteString(w, c.Subject)
	}))
	for name, tc := range map[string]struct {
		auth   string
		status int
		www    string
	}{
		"no header":   {"", http.StatusUnauthorized, "Bearer"},
		"basic":       {"Basic YTpi", http.StatusUnauthorized, "Bearer"},
		"bad token":   {"Bearer abc", http.StatusUnauthorized, `Bearer error="invalid_token"`},
		"good token":  {"Bearer " + p.AccessToken, http.StatusOK, ""},
		"lower-case":  {"bearer " + p.AccessToken, http.StatusOK, ""},
		"extra space": {"Bearer  " + p.AccessToken + " ", http.StatusOK, ""},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status || rec.Header().Get("WWW-Authenticate") != tc.www {
			t.Errorf("%s: %d %q", name, rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
		if tc.status == http.StatusOK && rec.Body.String() != p.User.ID {
			t.Errorf("%s: body %q", name, rec.Body.String())
		}
	}
}

// TestVerifierRequiresAAL2: a password-only token verifies with its aal
// claim, but is refused where AAL2 is required (Config.RequireAAL and the
// RequireAAL handler, 401 insufficient_user_authentication); a token of a
// session stepped up with a TOTP code passes both.
func TestVerifierRequiresAAL2(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	v := newVerifier(t, srv, time.Hour, false)
	c := srv.Client()
	p := c.SignUp(t, apptest.UniqueEmail("aal"), "correct horse")
	aal1, err := v.Verify(context.Background(), p.AccessToken)
	if err != nil || aal1.Level() != 1 || aal1.AuthTime == nil || len(aal1.AMR) != 1 || aal1.AMR[0] != "pwd" {
		t.Fatalf("AAL1 claims %+v, %v", aal1, err)
	}
	aal2 := stepUpWithTOTP(t, srv, c, *p.RefreshToken)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	strict, err := verify.New(ctx, verify.Config{
		JWKSURL: srv.HTTP.URL + "/.well-known/jwks.json", Issuer: srv.Config.JWTIssuer, Audience: srv.Config.JWTAudience,
		RequireAAL: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Verify(context.Background(), p.AccessToken); !errors.Is(err, verify.ErrInsufficientAAL) {
		t.Fatalf("AAL1 token with RequireAAL 2: %v", err)
	}
	if cl, err := strict.Verify(context.Background(), aal2); err != nil || cl.Level() != 2 {
		t.Fatalf("AAL2 token with RequireAAL 2: %+v, %v", cl, err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, h := range []http.Handler{strict.Middleware(ok), v.Middleware(verify.RequireAAL(2, ok))} {
		for tok, want := range map[string]int{p.AccessToken: http.StatusUnauthorized, aal2: http.StatusOK} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			h.ServeHTTP(rec, req)
			if rec.Code != want || (want != http.StatusOK && !strings.Contains(rec.Header().Get("WWW-Authenticate"), "insufficient_user_authentication")) {
				t.Errorf("status %d %q, want %d", rec.Code, rec.Header().Get("WWW-Authenticate"), want)
			}
		}
	}
}

// stepUpWithTOTP enrolls a TOTP factor for c's user, with a code computed
// from the secret, and returns the AAL2 access token the next refresh
// hands out.
func stepUpWithTOTP(t *testing.T, srv *apptest.Server, c *apptest.Client, refreshToken string) string {
	t.Helper()
	var e struct {
		EnrollTotp struct {
			Factor struct{ ID string }
			Secret string
		}
	}
	c.Do(t, `mutation { enrollTotp { factor { id } secret } }`, nil).Decode(t, &e)
	code, err := totp.Code(e.EnrollTotp.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var codes struct{ VerifyTotpEnrollment []string }
	c.Do(t, `mutation($f: ID!, $c: String!) { verifyTotpEnrollment(factorId: $f, code: $c) }`,
		map[string]any{"f": e.EnrollTotp.Factor.ID, "c": code}).Decode(t, &codes)
	var r struct{ Refresh struct{ AccessToken string } }
	c.Do(t, `mutation($t: String) { refresh(refreshToken: $t) { accessToken } }`, map[string]any{"t": refreshToken}).Decode(t, &r)
	return r.Refresh.AccessToken
}
