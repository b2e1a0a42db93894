// Package token issues and verifies access tokens (JWT) and refresh
// tokens, keeps the signing keys (in the database, their JWKS published)
// and the deny list that makes a logout take effect before an access
// token expires.
package token

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// AccessTokenType is the JOSE typ header of access tokens (RFC 9068), so
// that no other JWT signed with the same secret passes as one.
const AccessTokenType = "at+jwt"

// Leeway tolerates clock skew between instances when checking exp, iat
// and nbf. A token is accepted until exp + Leeway, so deny-list entries
// must outlive the access-token lifetime by as much.
const Leeway = 5 * time.Second

// Claims are the claims of a gqlauth access token.
type Claims struct {
	jwt.RegisteredClaims
	// ClientID (client_id, RFC 9068) names the client the token was
	// issued to: JWT_CLIENT_ID, by default the issuer.
	ClientID string `json:"client_id,omitempty"`
	// SessionID (sid) names the sign-in this token belongs to.
	SessionID string `json:"sid"`
	// Role is the user's role when the token was issued.
	Role string `json:"role"`
	// Email and Username let a client show who is signed in without a request.
	Email    string `json:"email,omitempty"`
	Username string `json:"username,omitempty"`
	// AAL is the session's authenticator assurance level when the token
	// was issued: "aal1" or "aal2" (NIST SP 800-63B).
	AAL string `json:"aal,omitempty"`
	// AMR names how the person authenticated (RFC 8176: pwd, otp, mfa).
	AMR []string `json:"amr,omitempty"`
	// AuthTime is when the person last proved who they are (OpenID
	// Connect's auth_time): the re-authentication window counts from it.
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	// EmailVerified (email_verified, as in OpenID Connect) says whether
	// the person proved they read mail at Email; present when Email is.
	EmailVerified *bool `json:"email_verified,omitempty"`
}

// Level is the token's assurance level as a number: 2 for "aal2", else 1
// (also for tokens issued before the aal claim existed).
func (c *Claims) Level() int {
	if c.AAL == "aal2" {
		return 2
	}
	return 1
}

// Subject is who an access token is issued to.
type Subject struct {
	UserID    uuid.UUID
	SessionID uuid.UUID
	Role      string
	Email     *string
	Username  *string
	// AAL is the session's assurance level (1 or 2; 0 leaves the claim out).
	AAL int
	// AMR and AuthTime are the session's authentication methods and time
	// (left out when empty or zero).
	AMR      []string
	AuthTime time.Time
	// EmailVerified is whether Email has been verified.
	EmailVerified bool
}

// IssuerSettings are the claims every access token carries and its lifetime.
type IssuerSettings struct {
	// Issuer is the iss claim (JWT_ISSUER), checked on verification.
	Issuer string
	// Audience is the aud claim (JWT_AUDIENCE), checked on verification.
	Audience string
	// ClientID is the client_id claim of RFC 9068 (JWT_CLIENT_ID); empty
	// means Issuer.
	ClientID string
	// TTL is how long a token is valid (JWT_ACCESS_EXPIRES_IN).
	TTL time.Duration
}

// Issuer signs access tokens with the current key of a KeySet and
// verifies them with the key their kid names.
type Issuer struct {
	keys   *KeySet
	set    IssuerSettings
	parser *jwt.Parser
	now    func() time.Time
}

// NewIssuer returns an Issuer of tokens signed with keys.
func NewIssuer(keys *KeySet, set IssuerSettings) *Issuer {
	if set.ClientID == "" {
		set.ClientID = set.Issuer
	}
	return &Issuer{
		keys: keys,
		set:  set,
		now:  time.Now,
		// The algorithms any key may have; each token must name its own
		// key's (checked in Verify's key function). "none" and every
		// other alg are refused before a key is looked up.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{string(ES256), string(EdDSA), string(RS256), string(HS256)}),
			jwt.WithIssuer(set.Issuer),
			jwt.WithAudience(set.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
			// Strict base64: the unused low bits of a segment's last
			// character must be zero, so one signature has one spelling
			// and an edited token never verifies.
			jwt.WithStrictDecoding(),
		),
	}
}

// TTL is the lifetime of the access tokens this Issuer signs.
func (i *Issuer) TTL() time.Duration { return i.set.TTL }

// Keys is the key set the Issuer signs and verifies with.
func (i *Issuer) Keys() *KeySet { return i.keys }

// ErrNoSigningKey is returned by Issue when no key is current.
var ErrNoSigningKey = errors.New("no current signing key")

// Issue signs a new access token for s with the current key; its header
// names the key (kid).
func (i *Issuer) Issue(s Subject) (string, *Claims, error) {
	key := i.keys.Current()
	if key == nil {
		return "", nil, ErrNoSigningKey
	}
	now := i.now()
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.set.Issuer,
			Subject:   s.UserID.String(),
			Audience:  jwt.ClaimStrings{i.set.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(i.set.TTL)),
			ID:        rand.Text(),
		},
		ClientID:  i.set.ClientID,
		SessionID: s.SessionID.String(),
		Role:      s.Role,
	}
	if s.Email != nil {
		c.Email = *s.Email
		verified := s.EmailVerified
		c.EmailVerified = &verified
	}
	if s.Username != nil {
		c.Username = *s.Username
	}
	if s.AAL > 0 {
		c.AAL = fmt.Sprintf("aal%d", s.AAL)
	}
	c.AMR = s.AMR
	if !s.AuthTime.IsZero() {
		c.AuthTime = jwt.NewNumericDate(s.AuthTime)
	}
	t := jwt.NewWithClaims(key.Alg.method(), c)
	t.Header["typ"] = AccessTokenType
	t.Header["kid"] = key.ID
	signed, err := t.SignedString(key.signer)
	if err != nil {
		return "", nil, fmt.Errorf("sign access token: %w", err)
	}
	return signed, c, nil
}

// ErrInvalidToken is returned for every access token that fails verification.
var ErrInvalidToken = errors.New("invalid access token")

// Verify checks an access token's signature, algorithm, typ, iss, aud,
// exp, iat and nbf, and returns its claims. The kid header chooses the
// key among this instance's verifying keys (standby, current, previous),
// and the token must name that key's algorithm: a token without a kid,
// with an unknown or revoked one, or with another algorithm is refused.
// Other key-choosing headers (jku, x5u, jwk) are ignored.
func (i *Issuer) Verify(raw string) (*Claims, error) {
	c := &Claims{}
	t, err := i.parser.ParseWithClaims(raw, c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != AccessTokenType {
			return nil, errors.New("wrong typ")
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid")
		}
		key, ok := i.keys.Lookup(kid)
		if !ok {
			return nil, errors.New("unknown kid")
		}
		if t.Method.Alg() != string(key.Alg) {
			return nil, errors.New("alg is not the key's")
		}
		return key.verifier, nil
	})
	if err != nil || !t.Valid {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if _, err := uuid.Parse(c.Subject); err != nil || c.ID == "" {
		return nil, fmt.Errorf("%w: bad sub or jti", ErrInvalidToken)
	}
	if _, err := uuid.Parse(c.SessionID); err != nil {
		return nil, fmt.Errorf("%w: bad sid", ErrInvalidToken)
	}
	return c, nil
}
