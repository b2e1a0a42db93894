package auth

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
)

// Limits of user input, each in one unit that its message names. The
// bounds of stored fields come from the data model (ent/schema), whose
// columns take whatever passes here. Passwords are bounded by bcrypt,
// which reads only the first 72 bytes: a longer password is refused,
// never truncated; both password bounds count bytes.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
	MaxEmailBytes    = schema.MaxEmailBytes
	MaxNameChars     = schema.MaxNameChars
	MaxUsernameChars = schema.MaxUsernameChars
	// MaxUsernameBytes bounds a username typed at sign-in (sign-up
	// allows 32; anything longer cannot exist).
	MaxUsernameBytes = 64
	MinAge, MaxAge   = 0, 150
)

var usernamePattern = regexp.MustCompile(fmt.Sprintf(`^[A-Za-z0-9_.-]{3,%d}$`, MaxUsernameChars))

// fieldErrors collects every problem of one input, so a form can show
// them all at once.
type fieldErrors map[string]string

func (f fieldErrors) add(field, reason string) {
	if _, ok := f[field]; !ok {
		f[field] = reason
	}
}

func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	return apierr.Invalid(f)
}

// cleanText rejects what no text field may hold: invalid UTF-8, NUL and
// other control characters. It reports whether s is acceptable.
func cleanText(s string) bool {
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

// normalizeEmail trims and lower-cases an address and checks it, and
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
func normalizeEmail(raw string) (string, string) {
	s := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case s == "":
		return "", "must not be empty"
	case len(s) > MaxEmailBytes:
		return "", fmt.Sprintf("must be at most %d bytes", MaxEmailBytes)
	case !cleanText(s):
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
	if !cleanText(out) || hasFormatChar(out) {
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

// checkUsername checks a username and returns it trimmed.
func checkUsername(raw string) (string, string) {
	s := strings.TrimSpace(raw)
	if !usernamePattern.MatchString(s) {
		return "", fmt.Sprintf("must be 3 to %d letters, digits, '_', '.' or '-'", MaxUsernameChars)
	}
	return s, ""
}

// checkPassword explains what is wrong with a new password, or returns "".
func checkPassword(p string) string {
	switch {
	case len(p) < MinPasswordBytes:
		return fmt.Sprintf("must be at least %d bytes", MinPasswordBytes)
	case len(p) > MaxPasswordBytes:
		return fmt.Sprintf("must be at most %d bytes (bcrypt ignores the rest)", MaxPasswordBytes)
	case !cleanText(p):
		return "must not contain control characters"
	}
	return ""
}

// checkSignInPassword explains what makes a sign-in password impossible,
// or returns "". Only bounds are checked: a wrong password is not a
// validation error.
func checkSignInPassword(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case len(p) > MaxPasswordBytes:
		// bcrypt would compare only the first 72 bytes: a wrong long
		// password sharing them would pass.
		return fmt.Sprintf("must be at most %d bytes", MaxPasswordBytes)
	case !cleanText(p):
		return "must not contain control characters"
	}
	return ""
}

// checkName trims an optional name; an empty one becomes nil. Its
// length is counted in characters, the unit of its column.
func checkName(raw *string) (*string, string) {
	if raw == nil {
		return nil, ""
	}
	s := strings.TrimSpace(*raw)
	switch {
	case s == "":
		return nil, ""
	case !cleanText(s):
		return nil, "contains invalid characters"
	case utf8.RuneCountInString(s) > MaxNameChars:
		return nil, fmt.Sprintf("must be at most %d characters", MaxNameChars)
	}
	if why := checkNameChars(s); why != "" {
		return nil, why
	}
	return &s, ""
}

// profile is a validated, normalised set of profile fields.
type profile struct {
	email, username, usernameKey *string
	firstName, lastName          *string
	age                          *int
}

// checkProfile validates the profile fields shared by signUp and
// updateProfile, recording problems in errs.
func checkProfile(errs fieldErrors, email, username, firstName, lastName *string, age *int) profile {
	var p profile
	if email != nil && strings.TrimSpace(*email) != "" {
		if e, why := normalizeEmail(*email); why != "" {
			errs.add("email", why)
		} else {
			p.email = &e
		}
	}
	if username != nil && strings.TrimSpace(*username) != "" {
		if u, why := checkUsername(*username); why != "" {
			errs.add("username", why)
		} else {
			key := strings.ToLower(u)
			p.username, p.usernameKey = &u, &key
		}
	}
	var why string
	if p.firstName, why = checkName(firstName); why != "" {
		errs.add("firstName", why)
	}
	if p.lastName, why = checkName(lastName); why != "" {
		errs.add("lastName", why)
	}
	if age != nil {
		if *age < MinAge || *age > MaxAge {
			errs.add("age", "must be between 0 and 150")
		} else {
			p.age = age
		}
	}
	return p
}
