// Package datakey holds DATA_ENCRYPTION_KEY, the key under which gqlauth
// keeps secrets at rest in its database (signing keys today; second-factor
// secrets next). Each use gets a subkey of its own (HKDF-SHA256 under a
// label), so that a value sealed for one purpose never opens as another.
package datakey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Size is the length of a data encryption key in bytes (AES-256).
const Size = 32

// Key is a data encryption key. It never prints: String, GoString and
// LogValue say "[redacted]", so that a stray log line cannot carry it.
type Key struct{ raw []byte }

// Parse reads a key from base64 (standard or URL alphabet, padded or not)
// that decodes to exactly 32 bytes.
func Parse(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			if len(b) != Size {
				return nil, fmt.Errorf("must decode to %d bytes, got %d (make one with: openssl rand -base64 32)", Size, len(b))
			}
			return &Key{raw: b}, nil
		}
	}
	return nil, errors.New("is not base64 (make one with: openssl rand -base64 32)")
}

// Generate returns a new random key.
func Generate() *Key {
	b := make([]byte, Size)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return &Key{raw: b}
}

// Encode is the key in standard base64, the form DATA_ENCRYPTION_KEY takes.
func (k *Key) Encode() string { return base64.StdEncoding.EncodeToString(k.raw) }

// String implements fmt.Stringer without revealing the key.
func (k *Key) String() string { return "[redacted]" }

// GoString implements fmt.GoStringer without revealing the key.
func (k *Key) GoString() string { return "[redacted]" }

// LogValue implements slog.LogValuer without revealing the key.
func (k *Key) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Derive returns n bytes of key material for one purpose, named by label
// (HKDF-SHA256). Different labels give unrelated keys.
func (k *Key) Derive(label string, n int) []byte {
	out, err := hkdf.Key(sha256.New, k.raw, nil, label, n)
	if err != nil {
		panic(err) // only for n beyond 255 hash sizes
	}
	return out
}

// Box seals and opens values for one purpose: AES-256-GCM under a subkey
// derived for that purpose.
type Box struct{ aead cipher.AEAD }

// Box returns the box of a purpose, e.g. "gqlauth signing keys v1".
func (k *Key) Box(purpose string) *Box {
	block, err := aes.NewCipher(k.Derive(purpose, Size))
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &Box{aead: aead}
}

// sealVersion starts every sealed value, so that a later format (or a
// rotated data key) can be told apart.
const sealVersion = 1

// Seal encrypts plaintext, bound to ad (associated data, such as the id
// of the row that holds it: a sealed value copied to another row does not
// open there). The result is the version byte, a random nonce and the
// ciphertext with its tag.
func (b *Box) Seal(plaintext, ad []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	_, _ = rand.Read(nonce)
	out := append([]byte{sealVersion}, nonce...)
	return b.aead.Seal(out, nonce, plaintext, ad)
}

// ErrOpen is returned for a sealed value that does not open: another key,
// other associated data, or changed bytes.
var ErrOpen = errors.New("sealed value does not open with DATA_ENCRYPTION_KEY (another key, or altered data)")

// Open decrypts what Seal returned for the same ad.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrOpen
	}
	out, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// LoadOrCreate reads the key kept in the file at path, or makes a new one
// and writes it there (readable by its owner only), for development
// without DATA_ENCRYPTION_KEY: restarts then keep opening what the last
// run sealed. created reports that the file was written now.
func LoadOrCreate(path string) (k *Key, created bool, err error) {
	if k, err := load(path); !errors.Is(err, os.ErrNotExist) {
		return k, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("data key file: %w", err)
	}
	// The key is written to a file of its own (CreateTemp: owner-only),
	// then linked to path, which fails if path exists: path appears with
	// its whole content at once, so of two processes starting together
	// one makes the key and the other reads it, never a half-written file.
	k = Generate()
	f, err := os.CreateTemp(dir, ".data-key-*")
	if err != nil {
		return nil, false, fmt.Errorf("data key file: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.WriteString(k.Encode() + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return nil, false, fmt.Errorf("data key file: %w", err)
	}
	if err := os.Link(f.Name(), path); errors.Is(err, os.ErrExist) {
		k, err := load(path)
		return k, false, err
	} else if err != nil {
		return nil, false, fmt.Errorf("data key file: %w", err)
	}
	return k, true, nil
}

// load reads the key file at path; an error wrapping os.ErrNotExist
// when there is none.
func load(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data key file: %w", err)
	}
	k, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("data key file %s: %v", path, err)
	}
	return k, nil
}
