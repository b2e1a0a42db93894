package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Algorithm is the JWS algorithm of a signing key. A token verifies only
// under the algorithm of the key its kid names (RFC 8725, 3.1).
type Algorithm string

// The algorithms a signing key may have.
const (
	// ES256 is ECDSA on P-256 with SHA-256: the default for new keys
	// (small signatures, supported by every JWT library).
	ES256 Algorithm = "ES256"
	// EdDSA is Ed25519 (RFC 8037).
	EdDSA Algorithm = "EdDSA"
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys or larger
	// (the algorithm RFC 9068 requires every verifier to support).
	RS256 Algorithm = "RS256"
	// HS256 is HMAC-SHA256: only as the legacy key imported from
	// JWT_ACCESS_SECRET. It is never published, so only gqlauth verifies it.
	HS256 Algorithm = "HS256"
)

// Algorithms are the algorithms `gqlauth keys create` accepts.
var Algorithms = []Algorithm{ES256, EdDSA, RS256}

// ParseAlgorithm reads an algorithm name for a new key, in any case.
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range Algorithms {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	return "", fmt.Errorf("algorithm %q: want ES256, EdDSA or RS256", s)
}

// method is the golang-jwt signing method of an algorithm.
func (a Algorithm) method() jwt.SigningMethod {
	switch a {
	case ES256:
		return jwt.SigningMethodES256
	case EdDSA:
		return jwt.SigningMethodEdDSA
	case RS256:
		return jwt.SigningMethodRS256
	case HS256:
		return jwt.SigningMethodHS256
	}
	return nil
}

// State is where a signing key is in its life.
type State string

// The states of a signing key. Every change but deletion can be undone:
// `gqlauth keys rotate --kid` makes a previous key current again, and
// `gqlauth keys restore` makes a revoked key previous.
const (
	// Standby keys are published in the JWKS but do not sign yet, so that
	// verifiers that cache the JWKS know them before their first token.
	Standby State = "standby"
	// Current is the one key that signs.
	Current State = "current"
	// Previous keys signed before the last rotation: still published and
	// verifying, until they are revoked (by hand, or automatically once
	// every token they signed has expired).
	Previous State = "previous"
	// Revoked keys are gone from the JWKS; their tokens are refused.
	Revoked State = "revoked"
)

// MinRSABits is the smallest RSA modulus a key may have.
const MinRSABits = 2048

// Key is one signing key with its key material. It never prints its
// private key: String and LogValue name only its kid, algorithm and state.
type Key struct {
	// ID is the kid.
	ID        string
	Alg       Algorithm
	State     State
	Legacy    bool
	CreatedAt time.Time
	// ActivatedAt, RetiredAt and RevokedAt are when the key last became
	// current, previous and revoked; zero when it never did.
	ActivatedAt time.Time
	RetiredAt   time.Time
	RevokedAt   time.Time

	// signer signs (a crypto.Signer, or the HS256 secret); verifier
	// verifies (the public key, or the HS256 secret).
	signer   any
	verifier any
	// jwk is the public JWK as the JWKS publishes it; nil for HS256.
	jwk json.RawMessage
}

// String names the key without its key material.
func (k *Key) String() string { return fmt.Sprintf("%s (%s, %s)", k.ID, k.Alg, k.State) }

// LogValue implements slog.LogValuer: kid, algorithm and state only.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.ID), slog.String("alg", string(k.Alg)), slog.String("state", string(k.State)))
}

// PublicJWK is the key's public JWK (kty, crv or n and e, x and y, kid,
// alg, use "sig"); nil for HS256 keys, which are never published.
func (k *Key) PublicJWK() json.RawMessage { return k.jwk }

// Public is the key's public key (nil for HS256), for verifiers in tests.
func (k *Key) Public() crypto.PublicKey {
	if k.Alg == HS256 {
		return nil
	}
	return k.verifier
}

// NewToken returns an unsigned token of claims for the key's algorithm,
// for Sign: gqlauth's other signed documents (Security Event Tokens).
func (k *Key) NewToken(claims jwt.Claims) *jwt.Token {
	return jwt.NewWithClaims(k.Alg.method(), claims)
}

// Sign signs a token with the key, setting its kid. For tests and tools
// that need a token no Issuer would make; Issuer.Issue is the way to sign
// access tokens.
func (k *Key) Sign(t *jwt.Token) (string, error) {
	t.Header["kid"] = k.ID
	return t.SignedString(k.signer)
}

// GenerateKey makes a new key of algorithm alg (RS256 keys have
// MinRSABits bits), with a new time-ordered kid, in state standby.
func GenerateKey(alg Algorithm) (*Key, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, MinRSABits)
	default:
		return nil, fmt.Errorf("generate key: algorithm %q: want ES256, EdDSA or RS256", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return newAsymmetricKey(uuid.Must(uuid.NewV7()).String(), alg, priv)
}

// newAsymmetricKey wraps a private key of algorithm alg, checking that
// the two match, and builds its public JWK.
func newAsymmetricKey(kid string, alg Algorithm, priv crypto.Signer) (*Key, error) {
	var jwkAlg jwkset.ALG
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		if alg != ES256 || p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("key %s: a %s key is not ECDSA P-256", kid, alg)
		}
		jwkAlg = jwkset.AlgES256
	case ed25519.PrivateKey:
		if alg != EdDSA {
			return nil, fmt.Errorf("key %s: a %s key is not Ed25519", kid, alg)
		}
		jwkAlg = jwkset.AlgEdDSA
	case *rsa.PrivateKey:
		if alg != RS256 || p.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("key %s: a %s key is not RSA of %d bits or more", kid, alg, MinRSABits)
		}
		jwkAlg = jwkset.AlgRS256
	default:
		return nil, fmt.Errorf("key %s: unsupported private key %T", kid, priv)
	}
	pub := priv.Public()
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{ALG: jwkAlg, KID: kid, USE: jwkset.UseSig},
	})
	if err != nil {
		return nil, fmt.Errorf("key %s: public JWK: %w", kid, err)
	}
	raw, err := json.Marshal(j.Marshal())
	if err != nil {
		return nil, fmt.Errorf("key %s: public JWK: %w", kid, err)
	}
	return &Key{ID: kid, Alg: alg, State: Standby, signer: priv, verifier: pub, jwk: raw}, nil
}

// LegacyKey is the HS256 key of a JWT_ACCESS_SECRET. Its kid is derived
// from the secret (an HMAC of a fixed label under it, as a UUID), so
// every instance given the same secret names the same key, and the kid
// reveals nothing of the secret.
func LegacyKey(secret string) *Key {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("gqlauth legacy signing key id v1"))
	kid := uuid.NewSHA1(uuid.NameSpaceURL, mac.Sum(nil)).String()
	return &Key{ID: kid, Alg: HS256, State: Current, Legacy: true, signer: []byte(secret), verifier: []byte(secret)}
}

// marshalPrivate is the key material to store: PKCS #8 DER, or the HS256
// secret.
func (k *Key) marshalPrivate() ([]byte, error) {
	if k.Alg == HS256 {
		return append([]byte(nil), k.signer.([]byte)...), nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return nil, fmt.Errorf("key %s: marshal: %w", k.ID, err)
	}
	return der, nil
}

// parsePrivate rebuilds a key from what marshalPrivate returned.
func parsePrivate(kid string, alg Algorithm, material []byte) (*Key, error) {
	if alg == HS256 {
		if len(material) < 32 {
			return nil, fmt.Errorf("key %s: an HS256 secret of %d bytes", kid, len(material))
		}
		return &Key{ID: kid, Alg: HS256, Legacy: true, signer: material, verifier: material}, nil
	}
	priv, err := x509.ParsePKCS8PrivateKey(material)
	if err != nil {
		return nil, fmt.Errorf("key %s: parse: %w", kid, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key %s: unsupported private key %T", kid, priv)
	}
	return newAsymmetricKey(kid, alg, signer)
}
