package password

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// The stored forms of a password hash:
//
//	$gqlauth1$<key id>$2a$<cost>$<salt+hash>   the current form
//	$2a$<cost>$<salt+hash>                     plain bcrypt (before the pre-hash)
//
// The current form is bcrypt over the base64 of
// HMAC-SHA-256(key, NFKC(password)). The HMAC makes every password 44
// bytes, within bcrypt's 72, so a long passphrase counts in full; base64
// keeps NUL bytes out of bcrypt's input. The key is PASSWORD_PEPPER when
// one is set (a secret kept outside the database: a stolen database alone
// then cannot be attacked offline) or a fixed string; the key id says
// which, so that hashes made before a pepper was set still verify.
const (
	// hashPrefix starts every hash of the current form; a new form gets a
	// new number.
	hashPrefix = "$gqlauth1$"
	// noPepper is the key id of hashes made without a pepper.
	noPepper = "-"
	// MinPepperBytes is the shortest PASSWORD_PEPPER accepted.
	MinPepperBytes = 32
)

// defaultKey is the HMAC key when no pepper is set: public, it only
// gives the pre-hash its domain.
var defaultKey = []byte("gqlauth password pre-hash")

// ErrMismatch is Compare's answer for a wrong password.
var ErrMismatch = errors.New("password: does not match")

// ErrUnknownPepper is Compare's answer for a hash made with a pepper
// that is no longer PASSWORD_PEPPER: it cannot be checked.
var ErrUnknownPepper = errors.New("password: the hash was made with another PASSWORD_PEPPER")

// Hasher hashes and checks passwords at one bcrypt cost and pepper. It is
// safe for concurrent use.
type Hasher struct {
	cost  int
	key   []byte
	keyID string
	// dummy is compared against for accounts that do not exist.
	dummy []byte
}

// NewHasher returns a Hasher at the given bcrypt cost (BCRYPT_COST) and
// pepper (PASSWORD_PEPPER; "" for none, else at least MinPepperBytes).
func NewHasher(cost int, pepper string) (*Hasher, error) {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("password: bcrypt cost must be between %d and %d, got %d", bcrypt.MinCost, bcrypt.MaxCost, cost)
	}
	h := &Hasher{cost: cost, key: defaultKey, keyID: noPepper}
	if pepper != "" {
		if len(pepper) < MinPepperBytes {
			return nil, fmt.Errorf("password: the pepper must be at least %d bytes, got %d", MinPepperBytes, len(pepper))
		}
		h.key = []byte(pepper)
		h.keyID = pepperID(pepper)
	}
	dummy, err := h.Hash("gqlauth dummy password")
	if err != nil {
		return nil, err
	}
	h.dummy = []byte(dummy)
	return h, nil
}

// pepperID names a pepper in a hash without revealing it: 8 hex digits of
// an HMAC of a fixed string under the pepper.
func pepperID(pepper string) string {
	m := hmac.New(sha256.New, []byte(pepper))
	m.Write([]byte("gqlauth pepper id"))
	return hex.EncodeToString(m.Sum(nil)[:4])
}

// preHash is what bcrypt sees of a password under key.
func preHash(key []byte, password string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(Normalize(password)))
	out := make([]byte, base64.StdEncoding.EncodedLen(sha256.Size))
	base64.StdEncoding.Encode(out, m.Sum(nil))
	return out
}

// Hash returns the stored form of a new password. Every call salts anew.
func (h *Hasher) Hash(password string) (string, error) {
	b, err := bcrypt.GenerateFromPassword(preHash(h.key, password), h.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hashPrefix + h.keyID + string(b), nil
}

// Compare checks a password against a stored hash of either form: nil
// when it matches, ErrMismatch when it does not, another error when the
// hash cannot be checked (malformed, or ErrUnknownPepper). A plain bcrypt
// hash is compared with the password as typed, as it was made; a password
// over 72 bytes never matches one (bcrypt would compare only the first 72).
func (h *Hasher) Compare(hash, password string) error {
	if rest, ok := strings.CutPrefix(hash, hashPrefix); ok {
		keyID, bc, ok := strings.Cut(rest, "$")
		if !ok {
			return errors.New("password: malformed hash")
		}
		key := defaultKey
		switch keyID {
		case noPepper:
		case h.keyID:
			key = h.key
		default:
			return ErrUnknownPepper
		}
		return compareBcrypt([]byte("$"+bc), preHash(key, password))
	}
	if len(password) > 72 {
		// Plain bcrypt hashes were made from at most 72 bytes; compare
		// anyway so that the answer takes as long, and refuse.
		_ = compareBcrypt([]byte(hash), []byte(password[:72]))
		return ErrMismatch
	}
	return compareBcrypt([]byte(hash), []byte(password))
}

// compareBcrypt maps bcrypt's mismatch to ErrMismatch.
func compareBcrypt(hash, input []byte) error {
	err := bcrypt.CompareHashAndPassword(hash, input)
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return ErrMismatch
	}
	if err != nil {
		return fmt.Errorf("password: %w", err)
	}
	return nil
}

// CompareUnknown does the work of a Compare for an account that does not
// exist, so that a sign-in takes as long for an unknown account as for a
// known one. It always returns ErrMismatch.
func (h *Hasher) CompareUnknown(password string) error {
	// The dummy is a stored form like any other: Compare parses it and
	// runs bcrypt at the current cost, as for a real account. (Handing
	// bcrypt the stored form itself would fail at parsing, in
	// microseconds, and tell unknown accounts apart.)
	_ = h.Compare(string(h.dummy), password)
	return ErrMismatch
}

// NeedsRehash reports whether a hash that just matched should be replaced
// by Hash of the same password: it is plain bcrypt, its cost is below
// BCRYPT_COST, or it was made without the current PASSWORD_PEPPER. Call
// it after a successful Compare (sign-in) and store the new hash.
func (h *Hasher) NeedsRehash(hash string) bool {
	rest, ok := strings.CutPrefix(hash, hashPrefix)
	if !ok {
		return true
	}
	keyID, bc, ok := strings.Cut(rest, "$")
	if !ok || keyID != h.keyID {
		return true
	}
	cost, err := bcrypt.Cost([]byte("$" + bc))
	return err != nil || cost < h.cost
}
