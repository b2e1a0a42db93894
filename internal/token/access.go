// Package token issues and verifies access tokens (JWT) and refresh
// tokens, and keeps the deny list that makes a logout take effect before
// an access token expires.
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
	// SessionID (sid) names the sign-in this token belongs to.
	SessionID string `json:"sid"`
	// Role is the user's role when the token was issued.
	Role string `json:"role"`
	// Email and Username let a client show who is signed in without a request.
	Email    string `json:"email,omitempty"`
	Username string `json:"username,omitempty"`
	// EmailVerified (email_verified, as in OpenID Connect) says whether
	// the person proved they read mail at Email; present when Email is.
	EmailVerified *bool `json:"email_verified,omitempty"`
}

// Subject is who an access token is issued to.
type Subject struct {
	UserID    uuid.UUID
	SessionID uuid.UUID
	Role      string
	Email     *string
	Username  *string
	// EmailVerified is whether Email has been verified.
	EmailVerified bool
}

// Issuer signs and verifies access tokens with one HS256 secret.
type Issuer struct {
	secret   []byte
	issuer   string
	audience string
	ttl      time.Duration
	parser   *jwt.Parser
	now      func() time.Time
}

// NewIssuer returns an Issuer of tokens valid for ttl.
func NewIssuer(secret, issuer, audience string, ttl time.Duration) *Issuer {
	return &Issuer{
		secret:   []byte(secret),
		issuer:   issuer,
		audience: audience,
		ttl:      ttl,
		now:      time.Now,
		// The algorithm is pinned: "none", RS256 with the secret as a
		// public key, and every other alg are refused before the key is used.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
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
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Issue signs a new access token for s.
func (i *Issuer) Issue(s Subject) (string, *Claims, error) {
	now := i.now()
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   s.UserID.String(),
			Audience:  jwt.ClaimStrings{i.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(i.ttl)),
			ID:        rand.Text(),
		},
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
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["typ"] = AccessTokenType
	signed, err := t.SignedString(i.secret)
	if err != nil {
		return "", nil, fmt.Errorf("sign access token: %w", err)
	}
	return signed, c, nil
}

// ErrInvalidToken is returned for every access token that fails verification.
var ErrInvalidToken = errors.New("invalid access token")

// Verify checks an access token's signature, algorithm, typ, iss, aud,
// exp, iat and nbf, and returns its claims. Header fields such as kid,
// jku, x5u or jwk are ignored: they never choose the key.
func (i *Issuer) Verify(raw string) (*Claims, error) {
	c := &Claims{}
	t, err := i.parser.ParseWithClaims(raw, c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != AccessTokenType {
			return nil, errors.New("wrong typ")
		}
		return i.secret, nil
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
