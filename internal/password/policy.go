// Package password decides which new passwords gqlauth accepts and how
// it stores them.
//
// The policy follows NIST SP 800-63B-4 (section 3.1.1.2) and OWASP ASVS
// 5.0 (V6.2): a minimum length counted in Unicode code points, a maximum
// of MaxLength that is well above the 64 NIST asks for, no composition
// rules, and a refusal of passwords that are common, derived from the
// account or the service, or (optionally) known from data breaches.
//
// Hashes are bcrypt over an HMAC-SHA-256 pre-hash (Hasher), so that a
// passphrase longer than bcrypt's 72 bytes counts in full; hashes written
// before the pre-hash existed still verify and are upgraded by NeedsRehash.
package password

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Length bounds, in Unicode code points of the NFKC-normalised password
// (NIST SP 800-63B-4: each code point counts as one character).
const (
	// DefaultMinLength is PASSWORD_MIN_LENGTH's default: NIST's minimum
	// for a password used with a second factor (15 when it is the only one).
	DefaultMinLength = 8
	// MaxLength is the longest password accepted. NIST asks for at least
	// 64; 128 code points of up to 4 bytes each stay within
	// GRAPHQL_MAX_STRING_BYTES' default of 1024.
	MaxLength = 128
)

// The reasons Check gives, for extensions.fields.password. A reason that
// takes a number is a format for fmt.Sprintf.
const (
	ReasonTooShort  = "must be at least %d characters"
	ReasonTooLong   = "must be at most %d characters"
	ReasonControl   = "must not contain control characters"
	ReasonCommon    = "is too common"
	ReasonContext   = "must not be based on the username, the email address or the name of the service"
	ReasonBreached  = "appears in a data breach"
	ReasonNotString = "must be valid UTF-8 text"
)

// ServiceWords are the context words every check refuses a password to
// be based on: the service's own name.
var ServiceWords = []string{"gqlauth"}

// BreachChecker says whether a password is known from data breaches
// (HIBP is the one gqlauth has).
type BreachChecker interface {
	// Breached reports whether the password appears in a breach corpus.
	Breached(ctx context.Context, password string) (bool, error)
}

// PolicySettings configure a Policy.
type PolicySettings struct {
	// MinLength is the least number of code points (PASSWORD_MIN_LENGTH);
	// 0 means DefaultMinLength.
	MinLength int
	// Breach, when set, is asked about every password that passes the
	// other checks (PASSWORD_BREACH_CHECK=hibp). When it fails, the
	// password is accepted and a warning logged (fail-open): an outage of
	// the breach API must not stop sign-ups.
	Breach BreachChecker
	// ContextWords are more words a password must not be based on, beside
	// ServiceWords and the words passed to Check (a product name).
	ContextWords []string
}

// Policy decides whether a new password is acceptable. It is safe for
// concurrent use.
type Policy struct {
	min    int
	breach BreachChecker
	words  []string
	log    *slog.Logger
}

// NewPolicy returns the password policy. log receives the warnings of a
// failing breach check.
func NewPolicy(set PolicySettings, log *slog.Logger) (*Policy, error) {
	if set.MinLength == 0 {
		set.MinLength = DefaultMinLength
	}
	if set.MinLength < 1 || set.MinLength > MaxLength {
		return nil, fmt.Errorf("password: minimum length must be between 1 and %d, got %d", MaxLength, set.MinLength)
	}
	words := append(append([]string(nil), ServiceWords...), set.ContextWords...)
	return &Policy{min: set.MinLength, breach: set.Breach, words: words, log: log}, nil
}

// MinLength is the least number of code points a password must have.
func (p *Policy) MinLength() int { return p.min }

// Check explains what is wrong with a new password, or returns "" when
// it is acceptable. accountWords are what the account is known by (its
// email address, its username); a password based on one of them, or on
// the service's name, is refused. The reason is safe to show to the
// person choosing the password (extensions.fields.password): it never
// repeats the password. The error is not nil only when ctx ended during
// the breach check; a failing breach check itself is logged and ignored.
func (p *Policy) Check(ctx context.Context, password string, accountWords ...string) (reason string, err error) {
	if !utf8.ValidString(password) {
		return ReasonNotString, nil
	}
	for _, r := range password {
		if unicode.IsControl(r) {
			return ReasonControl, nil
		}
	}
	norm := Normalize(password)
	switch n := utf8.RuneCountInString(norm); {
	case n < p.min:
		return fmt.Sprintf(ReasonTooShort, p.min), nil
	case n > MaxLength:
		return fmt.Sprintf(ReasonTooLong, MaxLength), nil
	}
	lower := strings.ToLower(norm)
	forms := guessableForms(lower)
	for _, f := range forms {
		if isCommon(f) || isRepetitive(f) || isSequence(f) {
			return ReasonCommon, nil
		}
	}
	for _, w := range p.contextWords(accountWords) {
		for _, f := range forms {
			if f == w {
				return ReasonContext, nil
			}
		}
	}
	if p.breach != nil {
		breached, err := p.breach.Breached(ctx, password)
		switch {
		case err != nil && ctx.Err() != nil:
			return "", ctx.Err()
		case err != nil:
			p.log.WarnContext(ctx, "password breach check failed; accepting the password without it (fail-open)", "error", err)
		case breached:
			return ReasonBreached, nil
		}
	}
	return "", nil
}

// Normalize is the form of a password that is measured and hashed:
// Unicode NFKC, as NIST SP 800-63B-4 recommends, so that the same
// password typed on two keyboards (composed or decomposed accents,
// full-width digits) is the same password.
func Normalize(password string) string { return norm.NFKC.String(password) }

// contextWords are the lower-cased words a password must not be based
// on: the service's, the policy's and those given, an email address
// adding its local part. Words shorter than 3 code points are ignored.
func (p *Policy) contextWords(given []string) []string {
	var out []string
	add := func(w string) {
		w = strings.ToLower(Normalize(strings.TrimSpace(w)))
		if utf8.RuneCountInString(w) >= 3 {
			out = append(out, w)
		}
	}
	for _, w := range append(append([]string(nil), p.words...), given...) {
		add(w)
		if at := strings.LastIndexByte(w, '@'); at > 0 {
			add(w[:at])
		}
	}
	return out
}

// maxAffix is how many digits, symbols and spaces guessableForms strips
// from the two ends of a password: a year and a "!" ("dragon2024!")
// make no password less common, a long random tail does.
const maxAffix = 5

// guessableForms are the lower-cased password and, when its letters are
// wrapped in at most maxAffix other characters, those letters alone:
// "Password123!" is checked as "password123!" and as "password".
func guessableForms(lower string) []string {
	forms := []string{lower}
	isLetter := func(r rune) bool { return unicode.IsLetter(r) }
	start := strings.IndexFunc(lower, isLetter)
	if start < 0 {
		return forms
	}
	end := strings.LastIndexFunc(lower, isLetter)
	_, size := utf8.DecodeRuneInString(lower[end:])
	core := lower[start : end+size]
	stripped := utf8.RuneCountInString(lower[:start]) + utf8.RuneCountInString(lower[end+size:])
	if stripped > 0 && stripped <= maxAffix {
		forms = append(forms, core)
	}
	return forms
}

// isRepetitive reports whether s repeats a unit of at most 3 code points
// ("aaaaaaaa", "abababab", "123123123").
func isRepetitive(s string) bool {
	r := []rune(s)
	for unit := 1; unit <= 3 && unit < len(r); unit++ {
		repeats := true
		for i := unit; i < len(r); i++ {
			if r[i] != r[i-unit] {
				repeats = false
				break
			}
		}
		if repeats {
			return true
		}
	}
	return false
}

// isSequence reports whether s is one run of consecutive code points,
// up or down ("abcdefgh", "98765432").
func isSequence(s string) bool {
	r := []rune(s)
	if len(r) < 3 {
		return false
	}
	step := r[1] - r[0]
	if step != 1 && step != -1 {
		return false
	}
	for i := 2; i < len(r); i++ {
		if r[i]-r[i-1] != step {
			return false
		}
	}
	return true
}
