// Package validate checks and normalises what users type: emails,
// usernames, names, ages and passwords. Every service that stores user
// input asks here, so that one value cannot be accepted by one path and
// refused by another; each problem is reported as BAD_USER_INPUT naming
// its field (Errors).
package validate

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"

	"github.com/gqlauth/gqlauth/ent/schema"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/password"
)

// Limits of user input, each in one unit that its message names. The
// bounds of stored fields come from the data model (ent/schema), whose
// columns take whatever passes here. New passwords are internal/password's
// policy (lengths in code points); a password typed at sign-in is only
// bounded in bytes, by what the longest acceptable one can take.
const (
	// MaxSignInPasswordBytes bounds a password typed to sign in or to
	// confirm one's identity: password.MaxLength code points of up to 4
	// bytes each.
	MaxSignInPasswordBytes = 4 * password.MaxLength
	MaxEmailBytes          = schema.MaxEmailBytes
	MaxNameChars           = schema.MaxNameChars
	MaxUsernameChars       = schema.MaxUsernameChars
	// MaxUsernameBytes bounds a username typed at sign-in (sign-up
	// allows 32; anything longer cannot exist).
	MaxUsernameBytes = 64
	MinAge, MaxAge   = 0, 150
)

var usernamePattern = regexp.MustCompile(fmt.Sprintf(`^[A-Za-z0-9_.-]{3,%d}$`, MaxUsernameChars))

// Errors collects every problem of one input, so a form can show
// them all at once.
type Errors map[string]string

func (f Errors) Add(field, reason string) {
	if _, ok := f[field]; !ok {
		f[field] = reason
	}
}

func (f Errors) Err() error {
	if len(f) == 0 {
		return nil
	}
	return apierr.Invalid(f)
}

// CleanText rejects what no text field may hold: invalid UTF-8, NUL and
// other control characters. It reports whether s is acceptable.
func CleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Email trims and lower-cases an address and checks it, and
// returns it with its domain in one canonical form, so that one mailbox
// cannot hold two accounts:
//
//   - The domain goes through IDNA (UTS #46, the lookup profile browsers
//     use): it must convert to valid ASCII with at least one dot, and it
//     is stored in its Unicode form, lower-cased and NFC-normalised.
//     "BÜCHER.de", "bücher.de" and "xn--bcher-kva.de" are the same
//     address, stored as "bücher.de".
//   - The local part may hold Unicode (RFC 6531); it is lower-cased and
//     NFC-normalised, and otherwise kept as typed.
func Email(raw string) (string, string) {
	s := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case s == "":
		return "", "must not be empty"
	case len(s) > MaxEmailBytes:
		return "", fmt.Sprintf("must be at most %d bytes", MaxEmailBytes)
	case !CleanText(s):
		return "", "contains invalid characters"
	case hasFormatChar(s):
		// IDNA would drop some of them (a soft hyphen) and keep others (a
		// zero-width space in the local part): refused either way.
		return "", whyInvisible
	}
	s = norm.NFC.String(s)
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", "is not a valid email address"
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil || !strings.Contains(ascii, ".") || strings.HasSuffix(ascii, ".") {
		return "", "is not a valid email address"
	}
	unicodeDomain, err := idna.Lookup.ToUnicode(ascii)
	if err != nil {
		return "", "is not a valid email address"
	}
	unicodeDomain = strings.ToLower(norm.NFC.String(unicodeDomain))
	out := local + "@" + unicodeDomain
	// The canonical form must itself be a valid address that maps to
	// itself, or the same mailbox could be stored twice.
	if len(out) > MaxEmailBytes {
		return "", fmt.Sprintf("must be at most %d bytes", MaxEmailBytes)
	}
	if !CleanText(out) || hasFormatChar(out) {
		return "", "is not a valid email address"
	}
	// Look-alikes: the local part and each label of the domain must each
	// keep to one script (or a combination one writing system uses).
	if mixesScripts(local) || slices.ContainsFunc(strings.Split(unicodeDomain, "."), mixesScripts) {
		return "", whyMixed
	}
	if a, err := mail.ParseAddress(out); err != nil || a.Address != out {
		return "", "is not a valid email address"
	}
	if again, err := idna.Lookup.ToASCII(out[strings.LastIndexByte(out, '@')+1:]); err != nil || again != ascii {
		return "", "is not a valid email address"
	}
	return out, ""
}

// Username checks a username and returns it trimmed.
func Username(raw string) (string, string) {
	s := strings.TrimSpace(raw)
	if !usernamePattern.MatchString(s) {
		return "", fmt.Sprintf("must be 3 to %d letters, digits, '_', '.' or '-'", MaxUsernameChars)
	}
	return s, ""
}

// SignInPassword explains what makes a sign-in password impossible,
// or returns "". Only bounds are checked: a wrong password is not a
// validation error. The bound is far above any acceptable password, so
// that a long passphrase (hashed in full since the HMAC pre-hash) is
// never refused, while a megabyte is.
func SignInPassword(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case len(p) > MaxSignInPasswordBytes:
		return fmt.Sprintf("must be at most %d bytes", MaxSignInPasswordBytes)
	case !CleanText(p):
		return "must not contain control characters"
	}
	return ""
}

// Name trims an optional name; an empty one becomes nil. Its
// length is counted in characters, the unit of its column.
func Name(raw *string) (*string, string) {
	if raw == nil {
		return nil, ""
	}
	s := strings.TrimSpace(*raw)
	switch {
	case s == "":
		return nil, ""
	case !CleanText(s):
		return nil, "contains invalid characters"
	case utf8.RuneCountInString(s) > MaxNameChars:
		return nil, fmt.Sprintf("must be at most %d characters", MaxNameChars)
	}
	if why := checkNameChars(s); why != "" {
		return nil, why
	}
	return &s, ""
}

// Fields is a validated, normalised set of profile fields.
type Fields struct {
	Email, Username, UsernameKey *string
	FirstName, LastName          *string
	Age                          *int
}

// Profile validates the profile fields shared by signUp, updateProfile and
// `gqlauth user create`, recording problems in errs.
func Profile(errs Errors, email, username, firstName, lastName *string, age *int) Fields {
	var p Fields
	if email != nil && strings.TrimSpace(*email) != "" {
		if e, why := Email(*email); why != "" {
			errs.Add("email", why)
		} else {
			p.Email = &e
		}
	}
	if username != nil && strings.TrimSpace(*username) != "" {
		if u, why := Username(*username); why != "" {
			errs.Add("username", why)
		} else {
			key := strings.ToLower(u)
			p.Username, p.UsernameKey = &u, &key
		}
	}
	var why string
	if p.FirstName, why = Name(firstName); why != "" {
		errs.Add("firstName", why)
	}
	if p.LastName, why = Name(lastName); why != "" {
		errs.Add("lastName", why)
	}
	if age != nil {
		if *age < MinAge || *age > MaxAge {
			errs.Add("age", "must be between 0 and 150")
		} else {
			p.Age = age
		}
	}
	return p
}

// RequireEmailOrUsername is the rule that an account keeps an email or a
// username (or both): it records the problem in errs when neither is
// left, unless one of them was already refused for another reason.
func RequireEmailOrUsername(errs Errors, email, username *string) {
	if email == nil && username == nil && errs["email"] == "" && errs["username"] == "" {
		errs.Add("email", "an email or a username is required")
	}
}

// Identifier is how a sign-in names its account: exactly one of an email
// and a username.
type Identifier struct {
	// Email is the normalised address, or "" when the username is used.
	Email string
	// UsernameKey is the lower-cased username, or "" when the email is used.
	UsernameKey string
}

// Key is the identifier as typed and normalised, for the lockout's
// counter of an unknown account.
func (id Identifier) Key() string {
	if id.Email != "" {
		return id.Email
	}
	return id.UsernameKey
}

// SignInIdentifier checks the identifier of a sign-in: exactly one of
// email and username, each within the bounds an account could have.
func SignInIdentifier(errs Errors, email, username *string) Identifier {
	hasEmail := email != nil && strings.TrimSpace(*email) != ""
	hasUsername := username != nil && strings.TrimSpace(*username) != ""
	var id Identifier
	switch {
	case hasEmail == hasUsername:
		errs.Add("email", "give exactly one of email and username")
	case hasEmail:
		e, why := Email(*email)
		if why != "" {
			errs.Add("email", why)
		}
		id.Email = e
	default:
		name := strings.TrimSpace(*username)
		if len(name) > MaxUsernameBytes || !CleanText(name) {
			errs.Add("username", "is not a valid username")
		}
		id.UsernameKey = strings.ToLower(name)
	}
	return id
}
