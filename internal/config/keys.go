package config

import (
	"time"

	"github.com/gqlauth/gqlauth/internal/datakey"
)

// accessTokenLeeway is token.Leeway, the clock skew verification
// tolerates past exp (config does not import the token package).
const accessTokenLeeway = 5 * time.Second

// DataKey is DATA_ENCRYPTION_KEY parsed; nil, nil when it is not set
// (development, where internal/app keeps a generated one in a file).
func (c *Config) DataKey() (*datakey.Key, error) {
	if c.DataEncryptionKey == "" {
		return nil, nil
	}
	return datakey.Parse(c.DataEncryptionKey)
}

// KeyRetireAfter is JWT_KEY_RETIRE_AFTER, or by default the access-token
// lifetime plus the verification leeway.
func (c *Config) KeyRetireAfter() time.Duration {
	if c.JWTKeyRetireAfter != 0 {
		return c.JWTKeyRetireAfter
	}
	return c.AccessTokenTTL + accessTokenLeeway
}

// ClientID is the client_id claim of access tokens: JWT_CLIENT_ID, or the issuer.
func (c *Config) ClientID() string {
	if c.JWTClientID != "" {
		return c.JWTClientID
	}
	return c.JWTIssuer
}
