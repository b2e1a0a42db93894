package token

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

const (
	testSecret   = "test-secret-test-secret-test-secret!"
	testIssuer   = "gqlauth"
	testAudience = "gqlauth"
)

// testKeys are the keys of testIssuerFor: the legacy HS256 key of
// testSecret (current), and one key of each asymmetric algorithm, in
// every verifying state.
var testKeys = func() struct{ legacy, es, ed, rs *Key } {
	must := func(k *Key, err error) *Key {
		if err != nil {
			panic(err)
		}
		return k
	}
	ks := struct{ legacy, es, ed, rs *Key }{
		legacy: LegacyKey(testSecret),
		es:     must(GenerateKey(ES256)),
		ed:     must(GenerateKey(EdDSA)),
		rs:     must(GenerateKey(RS256)),
	}
	ks.es.State, ks.ed.State, ks.rs.State = Previous, Standby, Previous
	return ks
}()

// testIssuerWith returns an Issuer over keys; the one in state current signs.
func testIssuerWith(t testing.TB, keys ...*Key) *Issuer {
	t.Helper()
	set, err := NewKeySet(context.Background(), StaticKeys(keys), nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewIssuer(set, IssuerSettings{Issuer: testIssuer, Audience: testAudience, TTL: 15 * time.Minute})
}

func testIssuerFor(t testing.TB) *Issuer {
	t.Helper()
	return testIssuerWith(t, testKeys.legacy, testKeys.es, testKeys.ed, testKeys.rs)
}

// signWith signs claims with key k; the header gets k's alg and kid
// unless it names its own.
func signWith(k *Key, header, claims map[string]any) string {
	h := map[string]any{"alg": string(k.Alg), "kid": k.ID}
	for name, v := range header {
		h[name] = v
	}
	return craftSigned(h, claims, k)
}

// craftSigned signs header and claims exactly as given with k's method.
func craftSigned(header, claims map[string]any, k *Key) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := k.Alg.method().Sign(signing, k.signer)
	if err != nil {
		panic(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// craft builds a JWT from a header and claims, HS256-signed with secret
// (whatever alg the header claims); an empty secret leaves the
// signature empty, as alg "none" tokens have it.
func craft(header, claims map[string]any, secret string) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	if secret == "" {
		return signing + "."
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// goodHeader and goodClaims make a token Verify accepts; each case of
// TestVerifyRFC8725 changes one thing.
func goodHeader() map[string]any {
	return map[string]any{"alg": "HS256", "typ": AccessTokenType, "kid": testKeys.legacy.ID}
}

func goodClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":  testIssuer,
		"aud":  []string{testAudience},
		"sub":  uuid.NewString(),
		"sid":  uuid.NewString(),
		"jti":  "jti-1",
		"role": "USER",
		"iat":  now.Unix(),
		"exp":  now.Add(time.Minute).Unix(),
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	if v == nil {
		delete(m, k)
	} else {
		m[k] = v
	}
	return m
}

// TestVerifyRFC8725 checks the attacks of RFC 8725 (JWT best current
// practices) against Verify: algorithm confusion, another key, an edited
// payload, wrong iss, aud or typ, missing or passed exp, a future nbf,
// and key-choosing headers.
func TestVerifyRFC8725(t *testing.T) {
	iss := testIssuerFor(t)
	now := time.Now()
	valid := craft(goodHeader(), goodClaims(), testSecret)
	parts := strings.Split(valid, ".")
	edited := func() string {
		c := goodClaims()
		c["role"] = "ADMIN"
		b, _ := json.Marshal(c)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}()

	cases := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", valid, true},
		{"issued by Issue", func() string {
			s, _, _ := iss.Issue(Subject{UserID: uuid.New(), SessionID: uuid.New(), Role: "USER"})
			return s
		}(), true},
		{"alg none", craft(with(goodHeader(), "alg", "none"), goodClaims(), ""), false},
		{"alg None", craft(with(goodHeader(), "alg", "None"), goodClaims(), ""), false},
		{"alg NONE", craft(with(goodHeader(), "alg", "NONE"), goodClaims(), ""), false},
		{"alg nOnE", craft(with(goodHeader(), "alg", "nOnE"), goodClaims(), ""), false},
		{"alg none with a signature", craft(with(goodHeader(), "alg", "none"), goodClaims(), testSecret), false},
		{"alg missing", craft(with(goodHeader(), "alg", nil), goodClaims(), testSecret), false},
		{"alg HS512 claimed", craft(with(goodHeader(), "alg", "HS512"), goodClaims(), testSecret), false},
		{"alg RS256 claimed (key confusion)", craft(with(goodHeader(), "alg", "RS256"), goodClaims(), testSecret), false},
		{"alg hs256 (case variant)", craft(with(goodHeader(), "alg", "hs256"), goodClaims(), testSecret), false},
		{"signed with another secret", craft(goodHeader(), goodClaims(), "another-secret-another-secret-another!"), false},
		{"payload edited after signing", edited, false},
		{"signature removed", parts[0] + "." + parts[1] + ".", false},
		{"signature truncated", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4], false},
		{"wrong iss", craft(goodHeader(), with(goodClaims(), "iss", "someone-else"), testSecret), false},
		{"no iss", craft(goodHeader(), with(goodClaims(), "iss", nil), testSecret), false},
		{"wrong aud", craft(goodHeader(), with(goodClaims(), "aud", []string{"other-api"}), testSecret), false},
		{"no aud", craft(goodHeader(), with(goodClaims(), "aud", nil), testSecret), false},
		{"typ JWT", craft(with(goodHeader(), "typ", "JWT"), goodClaims(), testSecret), false},
		{"no typ", craft(with(goodHeader(), "typ", nil), goodClaims(), testSecret), false},
		{"typ refresh+jwt", craft(with(goodHeader(), "typ", "refresh+jwt"), goodClaims(), testSecret), false},
		{"no exp", craft(goodHeader(), with(goodClaims(), "exp", nil), testSecret), false},
		{"exp as a string", craft(goodHeader(), with(goodClaims(), "exp", "tomorrow"), testSecret), false},
		{"expired within the leeway", craft(goodHeader(), with(goodClaims(), "exp", now.Add(-2*time.Second).Unix()), testSecret), true},
		{"expired past the leeway", craft(goodHeader(), with(goodClaims(), "exp", now.Add(-Leeway-2*time.Second).Unix()), testSecret), false},
		{"nbf in the future", craft(goodHeader(), with(goodClaims(), "nbf", now.Add(time.Minute).Unix()), testSecret), false},
		{"nbf within the leeway", craft(goodHeader(), with(goodClaims(), "nbf", now.Add(2*time.Second).Unix()), testSecret), true},
		{"iat in the future", craft(goodHeader(), with(goodClaims(), "iat", now.Add(time.Minute).Unix()), testSecret), false},
		{"sub not a user id", craft(goodHeader(), with(goodClaims(), "sub", "admin"), testSecret), false},
		{"no jti", craft(goodHeader(), with(goodClaims(), "jti", nil), testSecret), false},
		{"jku, x5u and jwk are ignored (right key)", craft(func() map[string]any {
			h := goodHeader()
			h["jku"] = "https://attacker.example/jwks.json"
			h["x5u"] = "https://attacker.example/cert.pem"
			h["jwk"] = map[string]any{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString([]byte("attacker-key"))}
			return h
		}(), goodClaims(), testSecret), true},
		{"jwk header naming the attacker's key", craft(with(goodHeader(), "jwk",
			map[string]any{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString([]byte("attacker-key-attacker-key-attacker"))}),
			goodClaims(), "attacker-key-attacker-key-attacker"), false},
		{"kid naming an empty key", craft(with(goodHeader(), "kid", "/dev/null"), goodClaims(), "\x00"), false},
		{"no kid", craft(with(goodHeader(), "kid", nil), goodClaims(), testSecret), false},
		{"kid not a string", craft(with(goodHeader(), "kid", 42), goodClaims(), testSecret), false},
		{"unknown kid", craft(with(goodHeader(), "kid", uuid.NewString()), goodClaims(), testSecret), false},
		{"kid path traversal", craft(with(goodHeader(), "kid", "../../../../dev/null"), goodClaims(), testSecret), false},
		// Each asymmetric key verifies its own algorithm, in every
		// verifying state.
		{"ES256 key (previous)", signWith(testKeys.es, map[string]any{"typ": AccessTokenType}, goodClaims()), true},
		{"EdDSA key (standby)", signWith(testKeys.ed, map[string]any{"typ": AccessTokenType}, goodClaims()), true},
		{"RS256 key (previous)", signWith(testKeys.rs, map[string]any{"typ": AccessTokenType}, goodClaims()), true},
		// Key confusion: a token must name its key's algorithm.
		{"HS256 with an ES256 key's public JWK as the secret", craft(with(goodHeader(), "kid", testKeys.es.ID), goodClaims(), string(testKeys.es.PublicJWK())), false},
		{"HS256 with an RS256 key's public JWK as the secret", craft(with(goodHeader(), "kid", testKeys.rs.ID), goodClaims(), string(testKeys.rs.PublicJWK())), false},
		{"HS256 key's kid, alg ES256 (signed by the ES256 key)", craftSigned(map[string]any{"alg": "ES256", "typ": AccessTokenType, "kid": testKeys.legacy.ID}, goodClaims(), testKeys.es), false},
		{"ES256 key's kid, signed by the RS256 key", craftSigned(map[string]any{"alg": "RS256", "typ": AccessTokenType, "kid": testKeys.es.ID}, goodClaims(), testKeys.rs), false},
		{"RS256 key's kid, alg PS256", craft(map[string]any{"alg": "PS256", "typ": AccessTokenType, "kid": testKeys.rs.ID}, goodClaims(), testSecret), false},
		{"EdDSA key's kid, signed by the ES256 key", craftSigned(map[string]any{"alg": "ES256", "typ": AccessTokenType, "kid": testKeys.ed.ID}, goodClaims(), testKeys.es), false},
		{"ES256 token with the kid of another ES256 key", func() string {
			other, _ := GenerateKey(ES256)
			return craftSigned(map[string]any{"alg": "ES256", "typ": AccessTokenType, "kid": testKeys.es.ID}, goodClaims(), other)
		}(), false},
		{"alg none with an ES256 kid", craft(map[string]any{"alg": "none", "typ": AccessTokenType, "kid": testKeys.es.ID}, goodClaims(), ""), false},
		{"two segments", parts[0] + "." + parts[1], false},
		{"empty", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := iss.Verify(tc.token)
			if tc.ok && err != nil {
				t.Fatalf("want accepted, got %v", err)
			}
			if !tc.ok && (err == nil || c != nil) {
				t.Fatalf("want refused, got claims %+v", c)
			}
		})
	}
}

// TestVerifyRefusesEveryEdit flips each byte of a valid token: no edited
// token may verify (this caught lenient base64 in the signature, whose
// last character carries bits a decoder may ignore).
func TestVerifyRefusesEveryEdit(t *testing.T) {
	iss := testIssuerFor(t)
	valid := craft(goodHeader(), goodClaims(), testSecret)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
	for i := range valid {
		for _, r := range alphabet {
			if byte(r) == valid[i] {
				continue
			}
			edited := valid[:i] + string(r) + valid[i+1:]
			if _, err := iss.Verify(edited); err == nil {
				t.Fatalf("token edited at byte %d (%q -> %q) verified", i, valid[i], r)
			}
		}
	}
}

// FuzzVerify feeds arbitrary strings to Verify: it must not panic, and
// whatever it accepts must carry a valid signature, under the algorithm
// of the key its kid names, and our iss, aud and typ.
func FuzzVerify(f *testing.F) {
	iss := testIssuerFor(f)
	valid := craft(goodHeader(), goodClaims(), testSecret)
	f.Add(valid)
	f.Add(signWith(testKeys.es, map[string]any{"typ": AccessTokenType}, goodClaims()))
	f.Add(signWith(testKeys.ed, map[string]any{"typ": AccessTokenType}, goodClaims()))
	f.Add(craft(with(goodHeader(), "alg", "none"), goodClaims(), ""))
	f.Add(craft(with(goodHeader(), "alg", "HS512"), goodClaims(), testSecret))
	f.Add(craft(with(goodHeader(), "kid", testKeys.es.ID), goodClaims(), string(testKeys.es.PublicJWK())))
	f.Add(craft(goodHeader(), with(goodClaims(), "exp", nil), testSecret))
	f.Add(craft(goodHeader(), goodClaims(), "another-secret-another-secret-another!"))
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Add("...")
	f.Add("")
	keys := map[string]*Key{}
	for _, k := range []*Key{testKeys.legacy, testKeys.es, testKeys.ed, testKeys.rs} {
		keys[k.ID] = k
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := iss.Verify(raw)
		if err != nil {
			return
		}
		parts := strings.Split(raw, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token of %d segments", len(parts))
		}
		var h struct{ Alg, Kid string }
		hb, _ := base64.RawURLEncoding.Strict().DecodeString(parts[0])
		if err := json.Unmarshal(hb, &h); err != nil {
			t.Fatalf("accepted a token whose header does not decode: %q", raw)
		}
		k, ok := keys[h.Kid]
		if !ok || string(k.Alg) != h.Alg {
			t.Fatalf("accepted kid %q with alg %q", h.Kid, h.Alg)
		}
		sig, derr := base64.RawURLEncoding.Strict().DecodeString(parts[2])
		if derr != nil || k.Alg.method().Verify(parts[0]+"."+parts[1], sig, k.verifier) != nil {
			t.Fatalf("accepted a token without our signature: %q", raw)
		}
		if k.Alg == HS256 {
			mac := hmac.New(sha256.New, []byte(testSecret))
			mac.Write([]byte(parts[0] + "." + parts[1]))
			if !hmac.Equal(sig, mac.Sum(nil)) {
				t.Fatalf("accepted an HS256 token without our secret's signature: %q", raw)
			}
		}
		if c.Issuer != testIssuer || len(c.Audience) == 0 || c.ExpiresAt == nil {
			t.Fatalf("accepted claims %+v", c)
		}
	})
}
