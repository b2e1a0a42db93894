package password_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gqlauth/gqlauth/internal/password"
)

const pepper = "pepper-kQ7vZ2xN9pL4wR8tY1bE6mH3sJ5cF0gA"

func newHasher(t *testing.T, cost int, pepper string) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(cost, pepper)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashRoundTrip(t *testing.T) {
	for _, pep := range []string{"", pepper} {
		h := newHasher(t, bcrypt.MinCost, pep)
		for _, pw := range []string{"correct horse battery staple", "żółć gęślą jaźń", strings.Repeat("long ", 30)} {
			hash, err := h.Hash(pw)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(hash, "$gqlauth1$") {
				t.Errorf("hash %q lacks the version prefix", hash)
			}
			if strings.Contains(hash, pw) || (pep != "" && strings.Contains(hash, pep)) {
				t.Error("the hash holds the password or the pepper")
			}
			if err := h.Compare(hash, pw); err != nil {
				t.Errorf("Compare(right password) = %v", err)
			}
			if err := h.Compare(hash, pw+"x"); !errors.Is(err, password.ErrMismatch) {
				t.Errorf("Compare(wrong password) = %v, want ErrMismatch", err)
			}
			if h.NeedsRehash(hash) {
				t.Error("a fresh hash needs a rehash")
			}
			again, _ := h.Hash(pw)
			if again == hash {
				t.Error("two hashes of one password are equal: no salt")
			}
		}
	}
}

// TestLongPassphrases: bcrypt alone reads 72 bytes; with the pre-hash,
// passphrases that differ only after byte 72 (or byte 100) are different
// passwords.
func TestLongPassphrases(t *testing.T) {
	h := newHasher(t, bcrypt.MinCost, "")
	base := strings.Repeat("a long shared prefix ", 5) // 105 bytes
	one, two := base+"one", base+"two"
	hash, err := h.Hash(one)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(hash, one); err != nil {
		t.Errorf("Compare(same) = %v", err)
	}
	if err := h.Compare(hash, two); !errors.Is(err, password.ErrMismatch) {
		t.Errorf("a passphrase differing at byte %d matched: %v", len(base), err)
	}
	if err := h.Compare(hash, one[:72]); !errors.Is(err, password.ErrMismatch) {
		t.Errorf("the first 72 bytes alone matched: %v", err)
	}
	// Plain bcrypt refuses it outright.
	if _, err := bcrypt.GenerateFromPassword([]byte(one), bcrypt.MinCost); err == nil {
		t.Error("plain bcrypt accepted a password over 72 bytes; this test no longer shows why the pre-hash exists")
	}
}

// TestLegacyHashes: plain bcrypt hashes (written before the pre-hash)
// still verify, need a rehash, and the rehash verifies.
func TestLegacyHashes(t *testing.T) {
	h := newHasher(t, bcrypt.MinCost, pepper)
	pw := "an old password"
	legacy, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(string(legacy), pw); err != nil {
		t.Fatalf("legacy Compare = %v", err)
	}
	if err := h.Compare(string(legacy), "another password"); !errors.Is(err, password.ErrMismatch) {
		t.Errorf("legacy Compare(wrong) = %v", err)
	}
	// A wrong password over 72 bytes that shares the first 72 must not
	// pass (bcrypt would compare only those).
	long := strings.Repeat("x", 72)
	legacyLong, _ := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	if err := h.Compare(string(legacyLong), long+"anything"); !errors.Is(err, password.ErrMismatch) {
		t.Errorf("legacy Compare(72 bytes + more) = %v, want ErrMismatch", err)
	}
	if !h.NeedsRehash(string(legacy)) {
		t.Fatal("a plain bcrypt hash does not need a rehash")
	}
	upgraded, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(upgraded, pw); err != nil || h.NeedsRehash(upgraded) {
		t.Errorf("upgraded hash: Compare = %v, NeedsRehash = %v", err, h.NeedsRehash(upgraded))
	}
}

func TestNeedsRehashOnCostAndPepper(t *testing.T) {
	pw := "correct horse battery staple"
	low := newHasher(t, bcrypt.MinCost, "")
	high := newHasher(t, bcrypt.MinCost+1, "")
	hash, _ := low.Hash(pw)
	if !high.NeedsRehash(hash) {
		t.Error("a hash below BCRYPT_COST does not need a rehash")
	}
	if err := high.Compare(hash, pw); err != nil {
		t.Errorf("a hash at a lower cost does not verify: %v", err)
	}
	stronger, _ := high.Hash(pw)
	if low.NeedsRehash(stronger) {
		t.Error("lowering BCRYPT_COST asks to weaken hashes")
	}

	// Setting a pepper: old hashes still verify and get upgraded.
	peppered := newHasher(t, bcrypt.MinCost, pepper)
	if err := peppered.Compare(hash, pw); err != nil {
		t.Errorf("an unpeppered hash does not verify once a pepper is set: %v", err)
	}
	if !peppered.NeedsRehash(hash) {
		t.Error("an unpeppered hash does not need a rehash once a pepper is set")
	}
	withPepper, _ := peppered.Hash(pw)
	if err := low.Compare(withPepper, pw); !errors.Is(err, password.ErrUnknownPepper) {
		t.Errorf("a peppered hash without its pepper: %v, want ErrUnknownPepper", err)
	}
	other := newHasher(t, bcrypt.MinCost, pepper+"-rotated")
	if err := other.Compare(withPepper, pw); !errors.Is(err, password.ErrUnknownPepper) {
		t.Errorf("a peppered hash under another pepper: %v, want ErrUnknownPepper", err)
	}
	// The pepper keys the pre-hash: relabelled as unpeppered, a
	// peppered hash does not verify.
	_, rest, _ := strings.Cut(strings.TrimPrefix(withPepper, "$gqlauth1$"), "$")
	if err := peppered.Compare("$gqlauth1$-$"+rest, pw); !errors.Is(err, password.ErrMismatch) {
		t.Errorf("a peppered hash relabelled as unpeppered: %v, want ErrMismatch", err)
	}
	if peppered.NeedsRehash(withPepper) {
		t.Error("a current peppered hash needs a rehash")
	}
}

// TestNormalisedPasswords: the same password typed composed or
// decomposed is the same password.
func TestNormalisedPasswords(t *testing.T) {
	h := newHasher(t, bcrypt.MinCost, "")
	hash, _ := h.Hash("caf\u00e9 au lait")
	if err := h.Compare(hash, "cafe\u0301 au lait"); err != nil {
		t.Errorf("decomposed form does not match the composed one: %v", err)
	}
}

func TestNewHasher(t *testing.T) {
	if _, err := password.NewHasher(3, ""); err == nil {
		t.Error("cost 3 accepted")
	}
	if _, err := password.NewHasher(bcrypt.MinCost, "short"); err == nil {
		t.Error("a short pepper accepted")
	}
	h := newHasher(t, bcrypt.MinCost, "")
	if err := h.CompareUnknown("anything"); !errors.Is(err, password.ErrMismatch) {
		t.Errorf("CompareUnknown = %v", err)
	}
	if err := h.Compare("$gqlauth1$garbage", "x"); err == nil || errors.Is(err, password.ErrMismatch) {
		t.Errorf("malformed hash: %v", err)
	}
}

func BenchmarkHashCost10(b *testing.B) {
	h, _ := password.NewHasher(10, pepper)
	for b.Loop() {
		_, _ = h.Hash("correct horse battery staple")
	}
}

// TestCompareUnknownDoesTheWork: an unknown account costs a bcrypt run
// like a known one. Measured at cost 10 (tens of milliseconds), a
// comparison that skips bcrypt is a thousand times faster, far outside
// the factor of three allowed here.
func TestCompareUnknownDoesTheWork(t *testing.T) {
	h := newHasher(t, 10, pepper)
	hash, _ := h.Hash("correct horse battery")
	measure := func(f func()) time.Duration {
		best := time.Hour
		for range 3 {
			start := time.Now()
			f()
			best = min(best, time.Since(start))
		}
		return best
	}
	known := measure(func() { _ = h.Compare(hash, "wrong guess") })
	unknown := measure(func() { _ = h.CompareUnknown("wrong guess") })
	t.Logf("known %v, unknown %v", known, unknown)
	if unknown < known/3 {
		t.Fatalf("CompareUnknown took %v, Compare %v: an unknown account is told apart by its timing", unknown, known)
	}
}
