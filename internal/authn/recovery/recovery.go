// Package recovery is the recovery-code credential: 10 single-use codes
// per user, each of 80 random bits, shown once and stored as SHA-256
// hashes. Making a new set voids the old one.
package recovery

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/recoverycode"
)

// Count is how many codes a set holds.
const Count = 10

// encoding writes 10 random bytes (80 bits) as 16 lower-case base32
// characters.
var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newCode returns a code as shown: four groups of four characters.
func newCode() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	s := strings.ToLower(encoding.EncodeToString(b))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// hash is the stored form of a code typed in any case, with or without
// its dashes and spaces. The codes carry 80 random bits, so a plain
// SHA-256 is as good as a slow hash here.
func hash(code string) []byte {
	norm := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(code)))
	h := sha256.Sum256([]byte("gqlauth recovery code v1\x00" + norm))
	return h[:]
}

// Generate replaces userID's codes with a new set in tx and returns them,
// to be shown once.
func Generate(ctx context.Context, tx *ent.Tx, userID uuid.UUID, now time.Time) ([]string, error) {
	if err := Delete(ctx, tx, userID); err != nil {
		return nil, err
	}
	codes := make([]string, Count)
	rows := make([]*ent.RecoveryCodeCreate, Count)
	for i := range codes {
		codes[i] = newCode()
		rows[i] = tx.RecoveryCode.Create().SetUserID(userID).SetCodeHash(hash(codes[i])).SetCreatedAt(now)
	}
	if err := tx.RecoveryCode.CreateBulk(rows...).Exec(ctx); err != nil {
		return nil, fmt.Errorf("store recovery codes: %w", err)
	}
	return codes, nil
}

// Use spends code if it is one of userID's unused codes, in tx, and
// reports whether it was. The conditional UPDATE lets exactly one of two
// concurrent uses of one code through.
func Use(ctx context.Context, tx *ent.Tx, userID uuid.UUID, code string, now time.Time) (bool, error) {
	n, err := tx.RecoveryCode.Update().
		Where(recoverycode.UserID(userID), recoverycode.CodeHash(hash(code)), recoverycode.UsedAtIsNil()).
		SetUsedAt(now).
		Save(ctx)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	return n == 1, nil
}

// Remaining is how many of userID's codes are unused.
func Remaining(ctx context.Context, db *ent.Client, userID uuid.UUID) (int, error) {
	return db.RecoveryCode.Query().Where(recoverycode.UserID(userID), recoverycode.UsedAtIsNil()).Count(ctx)
}

// Delete removes every code of userID, in tx.
func Delete(ctx context.Context, tx *ent.Tx, userID uuid.UUID) error {
	if _, err := tx.RecoveryCode.Delete().Where(recoverycode.UserID(userID)).Exec(ctx); err != nil {
		return fmt.Errorf("delete recovery codes: %w", err)
	}
	return nil
}
