package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// The concurrent-refresh grace needs the successor of a rotated token in
// plain text, to hand it out again, but the database keeps only hashes.
// gqlauth seals the successor with a key derived from the parent token
// itself: only a client that presents the parent can unseal it, and a
// database dump reveals nothing usable. (The other design, deriving every
// token of a session from a per-session secret and a counter, would keep a
// secret in the database that mints all future tokens of the session.)

// sealKey derives the key that seals a token's successor. It is not the
// stored token hash: the domain prefix makes it a different function of
// the token, so the stored hash cannot unseal anything.
func sealKey(parent string) []byte {
	h := sha256.Sum256([]byte("gqlauth successor seal v1\x00" + parent))
	return h[:]
}

// sealSuccessor encrypts successor so that only parent can decrypt it.
func sealSuccessor(parent, successor string) []byte {
	aead := newAEAD(parent)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, []byte(successor), nil)
}

// unsealSuccessor reverses sealSuccessor.
func unsealSuccessor(parent string, sealed []byte) (string, error) {
	aead := newAEAD(parent)
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("sealed successor too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

func newAEAD(parent string) cipher.AEAD {
	block, err := aes.NewCipher(sealKey(parent))
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}
