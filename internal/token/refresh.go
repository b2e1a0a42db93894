package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// NewRefreshToken returns a new refresh token (32 random bytes,
// base64url) and the SHA-256 hash that is all the database keeps of it.
func NewRefreshToken() (raw string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	raw = base64.RawURLEncoding.EncodeToString(b)
	return raw, HashRefreshToken(raw)
}

// HashRefreshToken is the database key of a refresh token. A fast hash
// is enough: the token has 256 bits of entropy, so it cannot be guessed
// from its hash the way a password could.
func HashRefreshToken(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}
