package config

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// CSRFKey is the key that signs the CSRF cookie's values (HMAC-SHA256),
// derived from JWT_ACCESS_SECRET with HKDF-SHA256 under a label of its
// own, so that one secret serves both without a CSRF signature ever being
// a valid token signature or the reverse. Rotating JWT_ACCESS_SECRET (or
// a development start with a random one) makes the CSRF values of open
// sessions invalid too: a browser signs in again.
func (c *Config) CSRFKey() []byte {
	key, err := hkdf.Key(sha256.New, []byte(c.JWTAccessSecret), nil, "gqlauth csrf cookie v1", 32)
	if err != nil {
		panic(err) // only for a length beyond 255 hash sizes
	}
	return key
}
