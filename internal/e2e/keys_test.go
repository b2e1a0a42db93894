package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/token"
)

// otherIssuer signs with a new key of alg that no server knows.
func otherIssuer(t *testing.T, alg token.Algorithm) *token.Issuer {
	t.Helper()
	k, err := token.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	k.State = token.Current
	set, err := token.NewKeySet(context.Background(), token.StaticKeys{k}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return token.NewIssuer(set, token.IssuerSettings{Issuer: "gqlauth", Audience: "gqlauth", TTL: time.Minute})
}

// rotateTo makes a new key of alg current on srv (forced: the test's
// verifiers hold no cached JWKS) and reloads srv's keys.
func rotateTo(t *testing.T, srv *apptest.Server, alg token.Algorithm) *token.Key {
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

// header decodes a JWT's header.
func header(t *testing.T, jwt string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// jwksOf fetches a server's JWKS.
func jwksOf(t *testing.T, srv *apptest.Server) (keys []map[string]any, res *http.Response) {
	t.Helper()
	res, err := http.Get(srv.HTTP.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct{ Keys []map[string]any }
	body, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("JWKS is not JSON: %s", body)
	}
	return doc.Keys, res
}

func kids(keys []map[string]any) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k["kid"].(string))
	}
	return out
}

// TestEachAlgorithmSignsAndVerifies makes a key of each algorithm current
// in turn, on SQLite with the in-process deny list and on PostgreSQL with
// Redis: its tokens name it and its algorithm, verify, and die on logout;
// the asymmetric ones are published with their public parameters only,
// the legacy HS256 key never.
func TestEachAlgorithmSignsAndVerifies(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		wantPublic := map[token.Algorithm][]string{
			token.ES256: {"kty", "crv", "x", "y", "kid", "alg", "use"},
			token.EdDSA: {"kty", "crv", "x", "kid", "alg", "use"},
			token.RS256: {"kty", "n", "e", "kid", "alg", "use"},
		}
		for _, alg := range []token.Algorithm{token.ES256, token.EdDSA, token.RS256} {
			t.Run(string(alg), func(t *testing.T) {
				key := rotateTo(t, srv, alg)
				c := srv.Client()
				p := c.SignUp(t, apptest.UniqueEmail(strings.ToLower(string(alg))), "correct horse")
				if h := header(t, p.AccessToken); h["alg"] != string(alg) || h["kid"] != key.ID || h["typ"] != "at+jwt" {
					t.Fatalf("header %v, want alg %s, kid %s", h, alg, key.ID)
				}
				wantOK(t, c.Do(t, meDoc, nil))
				wantOK(t, logout(t, c, "", ""))
				if code := meCode(t, srv, p.AccessToken); code != "UNAUTHENTICATED" {
					t.Fatalf("after logout: %q", code)
				}
				keys, _ := jwksOf(t, srv)
				var published map[string]any
				for _, k := range keys {
					if k["kid"] == key.ID {
						published = k
					}
					for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
						if _, ok := k[private]; ok {
							t.Fatalf("JWKS key %v carries %q", k["kid"], private)
						}
					}
				}
				if published == nil || published["alg"] != string(alg) || published["use"] != "sig" {
					t.Fatalf("key %s published as %v", key.ID, published)
				}
				for _, f := range wantPublic[alg] {
					if _, ok := published[f]; !ok {
						t.Fatalf("JWK %v lacks %s", published, f)
					}
				}
			})
		}
		t.Run("HS256 (legacy)", func(t *testing.T) {
			srv := apptest.New(t, b, map[string]string{"JWT_ACCESS_SECRET": apptest.JWTSecret})
			c := srv.Client()
			p := c.SignUp(t, apptest.UniqueEmail("legacy"), "correct horse")
			if h := header(t, p.AccessToken); h["alg"] != "HS256" || h["kid"] != token.LegacyKey(apptest.JWTSecret).ID {
				t.Fatalf("header %v, want the legacy key", h)
			}
			wantOK(t, c.Do(t, meDoc, nil))
			if keys, _ := jwksOf(t, srv); len(keys) != 0 {
				t.Fatalf("the JWKS publishes the legacy key: %v", keys)
			}
			// Rotating away from it: its tokens verify until it is revoked.
			rotateTo(t, srv, token.ES256)
			wantOK(t, c.Do(t, meDoc, nil))
			if _, err := srv.KeyStore.Revoke(context.Background(), token.LegacyKey(apptest.JWTSecret).ID); err != nil {
				t.Fatal(err)
			}
			if err := srv.Keys.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			wantCode(t, c.Do(t, meDoc, nil), "UNAUTHENTICATED")
		})
	})
}

// TestForgedAsymmetricTokens sends a server whose current key is ES256
// (with an EdDSA key on standby and an RS256 key previous) tokens with a
// tampered kid or alg, signed by keys it does not hold, or by a revoked
// key: every one is UNAUTHENTICATED, at /graphql and at /auth/verify.
func TestForgedAsymmetricTokens(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	ctx := context.Background()
	rs := rotateTo(t, srv, token.RS256)
	es := rotateTo(t, srv, token.ES256)
	ed, err := srv.KeyStore.Create(ctx, token.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	p := srv.Client().SignUp(t, apptest.UniqueEmail("forge"), "correct horse")
	parts := strings.Split(p.AccessToken, ".")
	claimsJSON, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var cl jwt.MapClaims
	_ = json.Unmarshal(claimsJSON, &cl)
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	withHeader := func(h map[string]any) string { return enc(h) + "." + parts[1] + "." + parts[2] }
	keys, _ := jwksOf(t, srv)
	var esJWK []byte
	for _, k := range keys {
		if k["kid"] == es.ID {
			esJWK, _ = json.Marshal(k)
		}
	}
	hmacWith := func(h map[string]any, secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, cl)
		tok.Header = h
		s, _ := tok.SignedString(secret)
		return s
	}
	other := otherIssuer(t, token.ES256)
	stranger, _, _ := other.Issue(token.Subject{UserID: uuid.MustParse(p.User.ID), SessionID: uuid.New(), Role: "ADMIN"})
	sp := strings.Split(stranger, ".")
	h := header(t, p.AccessToken)

	// A token of the previous RS256 key, revoked below.
	if _, err := srv.KeyStore.Rotate(ctx, token.RotateOptions{KID: rs.ID}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	rsToken := srv.Client().SignUp(t, apptest.UniqueEmail("rs"), "correct horse").AccessToken
	if _, err := srv.KeyStore.Rotate(ctx, token.RotateOptions{KID: es.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.KeyStore.Revoke(ctx, rs.ID); err != nil {
		t.Fatal(err)
	}
	if err := srv.Keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}

	cases := map[string]string{
		"kid of the standby EdDSA key":      withHeader(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": ed.ID}),
		"kid of the revoked RS256 key":      withHeader(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": rs.ID}),
		"alg EdDSA on the ES256 kid":        withHeader(map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": es.ID}),
		"alg RS256 on the ES256 kid":        withHeader(map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": es.ID}),
		"alg ES384 on the ES256 kid":        withHeader(map[string]any{"alg": "ES384", "typ": "at+jwt", "kid": es.ID}),
		"no kid":                            withHeader(map[string]any{"alg": "ES256", "typ": "at+jwt"}),
		"unknown kid":                       withHeader(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": uuid.NewString()}),
		"alg none":                          enc(map[string]any{"alg": "none", "typ": "at+jwt", "kid": es.ID}) + "." + parts[1] + ".",
		"HS256 keyed with the public JWK":   hmacWith(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": es.ID}, esJWK),
		"HS256 keyed with the JWK's x":      hmacWith(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": es.ID}, []byte(keys[0]["x"].(string))),
		"signed by a stranger, our kid":     enc(h) + "." + sp[1] + "." + sp[2],
		"signed by a stranger, its own kid": stranger,
		"our signature, claims of another":  parts[0] + "." + sp[1] + "." + parts[2],
		"token of the revoked RS256 key":    rsToken,
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if code := meCode(t, srv, tok); code != "UNAUTHENTICATED" {
				t.Fatalf("/graphql: %q, want UNAUTHENTICATED", code)
			}
			if status := verifyStatus(t, srv.HTTP.URL, tok); status != http.StatusUnauthorized {
				t.Fatalf("/auth/verify: %d, want 401", status)
			}
		})
	}
	if code := meCode(t, srv, p.AccessToken); code != "" {
		t.Fatalf("the real token: %q", code)
	}
}

// verifyStatus asks /auth/verify of the server at base about tok.
func verifyStatus(t *testing.T, base, tok string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/auth/verify", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestJWKSCaching: the JWKS is public and cacheable for JWKS_MAX_AGE,
// with an ETag; a revalidation with it costs a 304 with no body, until
// the keys change (a new standby key) and the tag with them. Every
// instance on the database serves the same bytes and tag.
func TestJWKSCaching(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		cfg := apptest.Config(t, b, map[string]string{"JWKS_MAX_AGE": "7m"})
		srv := apptest.Start(t, cfg)
		keys, res := jwksOf(t, srv)
		etag := res.Header.Get("ETag")
		if len(keys) != 1 || kids(keys)[0] != srv.Keys.Current().ID {
			t.Fatalf("JWKS keys %v, want the current key", kids(keys))
		}
		if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=420" {
			t.Fatalf("Cache-Control %q", cc)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
			t.Fatalf("Content-Type %q", ct)
		}
		if !strings.HasPrefix(etag, `"`) || res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("ETag %q, Access-Control-Allow-Origin %q", etag, res.Header.Get("Access-Control-Allow-Origin"))
		}
		revalidate := func(tag string) *http.Response {
			req, _ := http.NewRequest(http.MethodGet, srv.HTTP.URL+"/.well-known/jwks.json", nil)
			req.Header.Set("If-None-Match", tag)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusNotModified && len(body) != 0 {
				t.Fatalf("304 with a body: %q", body)
			}
			return res
		}
		for _, tag := range []string{etag, `W/` + etag, `"other", ` + etag, "*"} {
			if r := revalidate(tag); r.StatusCode != http.StatusNotModified || r.Header.Get("ETag") != etag || r.Header.Get("Cache-Control") != "public, max-age=420" {
				t.Fatalf("If-None-Match %s: %d %v", tag, r.StatusCode, r.Header)
			}
		}
		if r := revalidate(`"other"`); r.StatusCode != http.StatusOK {
			t.Fatalf("If-None-Match of another tag: %d", r.StatusCode)
		}

		// Another instance on the same database serves the same document.
		twin := apptest.Start(t, cfg)
		if _, r := jwksOf(t, twin); r.Header.Get("ETag") != etag {
			t.Fatalf("two instances tag the same keys %s and %s", etag, r.Header.Get("ETag"))
		}

		// A standby key is published before it signs: the tag changes.
		standby, err := srv.KeyStore.Create(context.Background(), token.EdDSA)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Keys.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := revalidate(etag); r.StatusCode != http.StatusOK || r.Header.Get("ETag") == etag {
			t.Fatalf("after a new standby key: %d, ETag %s", r.StatusCode, r.Header.Get("ETag"))
		}
		if keys, _ := jwksOf(t, srv); len(keys) != 2 || kids(keys)[1] != standby.ID {
			t.Fatalf("JWKS after a new standby key: %v", kids(keys))
		}
		if h := header(t, srv.Client().SignUp(t, apptest.UniqueEmail("standby"), "correct horse").AccessToken); h["kid"] == standby.ID {
			t.Fatal("a standby key signed")
		}
	})
}

// TestDiscovery: the RFC 8414 document names the issuer and where the
// JWKS is, from PUBLIC_URL or else from the request.
func TestDiscovery(t *testing.T) {
	get := func(t *testing.T, url string, hdr map[string]string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url+"/.well-known/oauth-authorization-server", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var doc map[string]any
		if err := json.NewDecoder(res.Body).Decode(&doc); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("discovery: %d, %v", res.StatusCode, err)
		}
		return doc
	}
	srv := apptest.New(t, apptest.Backends[0], map[string]string{"JWT_ISSUER": "https://auth.example.com"})
	doc := get(t, srv.HTTP.URL, nil)
	if doc["issuer"] != "https://auth.example.com" || doc["jwks_uri"] != srv.HTTP.URL+"/.well-known/jwks.json" {
		t.Fatalf("discovery without PUBLIC_URL: %v", doc)
	}
	// X-Forwarded-Proto from an untrusted peer changes nothing.
	if doc := get(t, srv.HTTP.URL, map[string]string{"X-Forwarded-Proto": "https"}); !strings.HasPrefix(doc["jwks_uri"].(string), "http://") {
		t.Fatalf("an untrusted X-Forwarded-Proto was believed: %v", doc)
	}
	trusted := apptest.New(t, apptest.Backends[0], map[string]string{"TRUSTED_PROXIES": "127.0.0.1"})
	if doc := get(t, trusted.HTTP.URL, map[string]string{"X-Forwarded-Proto": "https"}); !strings.HasPrefix(doc["jwks_uri"].(string), "https://") {
		t.Fatalf("a trusted proxy's X-Forwarded-Proto was ignored: %v", doc)
	}
	pub := apptest.New(t, apptest.Backends[0], map[string]string{"PUBLIC_URL": "https://auth.example.com/"})
	if doc := get(t, pub.HTTP.URL, nil); doc["jwks_uri"] != "https://auth.example.com/.well-known/jwks.json" || doc["issuer"] != "gqlauth" {
		t.Fatalf("discovery with PUBLIC_URL: %v", doc)
	}
}
