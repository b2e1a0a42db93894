// Package emailcode is the credential an email flow hands out: a link
// token and a 6-digit code, mailed together, that prove the person reads
// mail at an address. Verification, password reset and email change
// (internal/account) issue and redeem them here.
//
// Only SHA-256 hashes are stored (like refresh tokens). A request works
// once, until it expires; a newer request of the same kind for the same
// account voids it, and so does a password change (Void). A code may be
// wrong MaxFailedCodes times, then the request is void: with 10^6 codes
// and the per-address mail limit, guessing stays hopeless.
package emailcode

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/emailtoken"
	"github.com/gqlauth/gqlauth/ent/predicate"
	"github.com/gqlauth/gqlauth/ent/schema"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/database"
)

// Kind is the flow a request belongs to.
type Kind = emailtoken.Kind

// The kinds of request.
const (
	VerifyEmail   Kind = emailtoken.KindVerifyEmail
	PasswordReset Kind = emailtoken.KindPasswordReset
	EmailChange   Kind = emailtoken.KindEmailChange
)

const (
	// CodeDigits is the length of a code.
	CodeDigits = 6
	// MaxFailedCodes is how many wrong codes void a request.
	MaxFailedCodes = 5
	// MaxTokenBytes bounds a link token as typed (a real one is 43 bytes).
	MaxTokenBytes = 128
)

// Issued is a new request: what its mail carries.
type Issued struct {
	ID uuid.UUID
	// Token is the link token (256 random bits, base64url).
	Token string
	// Code is the 6-digit code.
	Code    string
	Expires time.Time
}

// Store issues and redeems requests. It is safe for concurrent use.
type Store struct {
	db  *ent.Client
	now func() time.Time
}

// New returns the store of db; clock nil is time.Now.
func New(db *ent.Client, clock func() time.Time) *Store {
	if clock == nil {
		clock = time.Now
	}
	return &Store{db: db, now: clock}
}

// Issue stores a new request of kind for the account userID, mailed to
// email and valid for ttl, in the caller's transaction (the one that
// enqueues its mail). The account's earlier live requests of the same
// kind are voided.
func (s *Store) Issue(ctx context.Context, tx *ent.Tx, userID uuid.UUID, kind Kind, email string, ttl time.Duration) (Issued, error) {
	now := s.now()
	if err := s.void(ctx, tx, now, userID, kind); err != nil {
		return Issued{}, err
	}
	is := Issued{ID: schema.NewID(), Token: newToken(), Code: newCode(), Expires: now.Add(ttl)}
	err := tx.EmailToken.Create().
		SetID(is.ID).
		SetUserID(userID).
		SetKind(kind).
		SetEmail(email).
		SetTokenHash(hashToken(is.Token)).
		SetCodeHash(hashCode(is.ID, is.Code)).
		SetCreatedAt(now).
		SetExpiresAt(is.Expires).
		Exec(ctx)
	if err != nil {
		return Issued{}, fmt.Errorf("store email token: %w", err)
	}
	return is, nil
}

// Decoy does Issue's work for an address without an account, short of
// the insert its foreign key forbids: the voiding statement (which
// matches nothing), a token, a code and their hashes. The caller queues
// its mail too and undoes that, so that a request for an unknown address
// costs about what one for an account does.
func (s *Store) Decoy(ctx context.Context, tx *ent.Tx, kind Kind, ttl time.Duration) (Issued, error) {
	now := s.now()
	if err := s.void(ctx, tx, now, uuid.Nil, kind); err != nil {
		return Issued{}, err
	}
	is := Issued{ID: schema.NewID(), Token: newToken(), Code: newCode(), Expires: now.Add(ttl)}
	_, _ = hashToken(is.Token), hashCode(is.ID, is.Code)
	return is, nil
}

// Void voids every live request of the account (of the kinds given, or
// of every kind), in the caller's transaction: a password change or
// reset calls it, so that no older mail can act on the account after.
func (s *Store) Void(ctx context.Context, tx *ent.Tx, userID uuid.UUID, kinds ...Kind) error {
	return s.void(ctx, tx, s.now(), userID, kinds...)
}

func (s *Store) void(ctx context.Context, tx *ent.Tx, now time.Time, userID uuid.UUID, kinds ...Kind) error {
	u := tx.EmailToken.Update().Where(emailtoken.UserID(userID), emailtoken.SpentAtIsNil(), emailtoken.VoidedAtIsNil())
	if len(kinds) > 0 {
		u.Where(emailtoken.KindIn(kinds...))
	}
	if err := u.SetVoidedAt(now).Exec(ctx); err != nil {
		return fmt.Errorf("void email tokens: %w", err)
	}
	return nil
}

// Proof is what a client presents to redeem a request: the link token,
// or the code with what finds its request (the address it was mailed to,
// or the signed-in account).
type Proof struct {
	Kind  Kind
	Token string
	// Code, with Email or UserID, when there is no Token.
	Code   string
	Email  string
	UserID uuid.UUID
}

// Redeem spends the request p proves and runs fn with it in the same
// transaction: fn's changes and the spending commit together, or neither
// does (fn's error is returned). A token or code that is wrong, expired,
// spent or voided is BAD_USER_INPUT naming "token" or "code", one message
// for all. A wrong code is counted, and the count committed, before the
// answer; at MaxFailedCodes the request is void.
func (s *Store) Redeem(ctx context.Context, p Proof, fn func(tx *ent.Tx, t *ent.EmailToken) error) error {
	field := "code"
	if p.Token != "" {
		field = "token"
	}
	if err := checkFormat(p); err != nil {
		return err
	}
	var wrong bool
	err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		now := s.now()
		q := tx.EmailToken.Query().Where(
			emailtoken.KindEQ(p.Kind),
			emailtoken.SpentAtIsNil(),
			emailtoken.VoidedAtIsNil(),
			emailtoken.ExpiresAtGT(now),
			predicate.EmailToken(database.ForUpdate),
		)
		switch {
		case p.Token != "":
			q.Where(emailtoken.TokenHash(hashToken(p.Token)))
		case p.UserID != uuid.Nil:
			q.Where(emailtoken.UserID(p.UserID))
		default:
			q.Where(emailtoken.Email(p.Email))
		}
		// Issue leaves one live request per account and kind; by address,
		// the newest one is meant.
		t, err := q.Order(ent.Desc(emailtoken.FieldCreatedAt)).Unique(false).First(ctx)
		if ent.IsNotFound(err) {
			return errInvalid(field)
		}
		if err != nil {
			return err
		}
		if p.Token == "" && subtle.ConstantTimeCompare(hashCode(t.ID, p.Code), t.CodeHash) != 1 {
			upd := tx.EmailToken.UpdateOne(t).AddFailedCodes(1)
			if t.FailedCodes+1 >= MaxFailedCodes {
				upd.SetVoidedAt(now)
			}
			if err := upd.Exec(ctx); err != nil {
				return fmt.Errorf("count wrong code: %w", err)
			}
			wrong = true
			return nil // commit the count
		}
		// Conditional as well as locked: of two concurrent redeems, one
		// spends and the other finds nothing to spend.
		n, err := tx.EmailToken.Update().
			Where(emailtoken.ID(t.ID), emailtoken.SpentAtIsNil(), emailtoken.VoidedAtIsNil()).
			SetSpentAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("spend email token: %w", err)
		}
		if n != 1 {
			return errInvalid(field)
		}
		t.SpentAt = &now
		return fn(tx, t)
	})
	if err == nil && wrong {
		return errInvalid(field)
	}
	return err
}

// checkFormat refuses a proof that cannot be right before any lookup.
func checkFormat(p Proof) error {
	switch {
	case p.Token != "":
		if len(p.Token) > MaxTokenBytes {
			return errInvalid("token")
		}
	case p.Code != "":
		if len(p.Code) != CodeDigits || strings.Trim(p.Code, "0123456789") != "" {
			return errInvalid("code")
		}
		if p.Email == "" && p.UserID == uuid.Nil {
			return errors.New("emailcode: a code needs an email or an account")
		}
	default:
		return apierr.Invalid(map[string]string{"token": "give the token of the link, or the code of the mail"})
	}
	return nil
}

// errInvalid is the one answer to a wrong, expired or used token or code.
func errInvalid(field string) error {
	return &apierr.Error{Code: apierr.BadUserInput, Message: "the " + field + " is wrong or has expired",
		Fields: map[string]string{field: "is wrong or has expired"}}
}

// DeleteOld deletes requests that expired before cutoff.
func (s *Store) DeleteOld(ctx context.Context, cutoff time.Time) (int, error) {
	return s.db.EmailToken.Delete().Where(emailtoken.ExpiresAtLT(cutoff)).Exec(ctx)
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b)
}

var codeSpace = big.NewInt(1_000_000)

func newCode() string {
	n, err := rand.Int(rand.Reader, codeSpace)
	if err != nil {
		panic(err) // crypto/rand never fails (Go 1.24+)
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// hashToken is the database key of a link token: a fast hash suffices
// for 256 random bits.
func hashToken(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

// hashCode binds a code to its request, so that equal codes of two
// requests have different hashes.
func hashCode(id uuid.UUID, code string) []byte {
	h := sha256.New()
	h.Write(id[:])
	h.Write([]byte(code))
	return h.Sum(nil)
}
