package validate

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestNormalizeEmail pins the documented normalisation: trimmed,
// lower-cased, the domain in one canonical Unicode form whichever way it
// was typed (docs/security.md).
func TestNormalizeEmail(t *testing.T) {
	cases := []struct{ in, want string }{
		{"  Alice@Example.COM ", "alice@example.com"},
		{"bob@bücher.de", "bob@bücher.de"},
		{"bob@BÜCHER.de", "bob@bücher.de"},
		{"bob@xn--bcher-kva.de", "bob@bücher.de"},
		{"bob@XN--BCHER-KVA.DE", "bob@bücher.de"},
		{"bob@bu\u0308cher.de", "bob@bücher.de"}, // decomposed ü
		{"josé@example.com", "josé@example.com"},
		{"jose\u0301@example.com", "josé@example.com"},
		{"user+tag@sub.example.co.uk", "user+tag@sub.example.co.uk"},
	}
	for _, tc := range cases {
		got, why := Email(tc.in)
		if why != "" || got != tc.want {
			t.Errorf("Email(%q) = %q, %q; want %q", tc.in, got, why, tc.want)
		}
	}
	for _, bad := range []string{
		"", "plain", "a@b", "a@localhost", "a@b.", "Name <a@example.com>", "a@exa mple.com",
		"a\x00@example.com", "a@exam\nple.com", "a\u202e@example.com" + "\x7f", "a@-bad-.com",
		"a@xn--invalid-.com", strings.Repeat("a", 250) + "@example.com", "a@ex\xffample.com",
	} {
		if got, why := Email(bad); why == "" {
			t.Errorf("Email(%q) accepted as %q", bad, got)
		}
	}
}

// TestMixesScripts pins the script-mixing rule of UTS #39's Highly
// Restrictive level that email parts must follow.
func TestMixesScripts(t *testing.T) {
	for s, mixed := range map[string]bool{
		"example":         false,
		"bücher":          false,
		"пример":          false,
		"ex\u0430mple":    true,  // Cyrillic а among Latin letters
		"g\u03bfogle":     true,  // Greek ο
		"paypa\u04cf":     true,  // Cyrillic palochka
		"東京タワー":           false, // Han + Katakana: Japanese
		"sony-ソニー":        false, // Latin + Katakana
		"中文abc":           false, // Latin + Han
		"한국어abc":          false, // Latin + Hangul
		"ㄅㄆ中文":            false, // Bopomofo + Han
		"한국ソニー":           true,  // Hangul + Katakana: no one writing system
		"αβγ-123":         false, // digits and hyphen go with any script
		"abc\u0301":       false, // a combining mark (Inherited)
		"ελληνικά-пример": true,
	} {
		if got := mixesScripts(s); got != mixed {
			t.Errorf("mixesScripts(%q) = %v, want %v", s, got, mixed)
		}
	}
}

func TestSignInPasswordBounds(t *testing.T) {
	for p, ok := range map[string]bool{
		"":                      false,
		"short":                 true, // a wrong password is not a validation error
		strings.Repeat("x", 73): true, // past bcrypt's 72 bytes: hashed in full now
		strings.Repeat("x", MaxSignInPasswordBytes):   true,
		strings.Repeat("x", MaxSignInPasswordBytes+1): false,
		"nul\x00inside":           false,
		"invalid \xff utf8 bytes": false,
	} {
		if got := SignInPassword(p) == ""; got != ok {
			t.Errorf("SignInPassword(%.20q…) ok=%v, want %v", p, got, ok)
		}
	}
}

// FuzzValidation feeds arbitrary text to the input validation. Whatever
// it accepts is clean (valid UTF-8, no control characters, bounded), and
// an accepted email is a fixed point: normalising it again changes
// nothing, so one mailbox maps to one stored address.
func FuzzValidation(f *testing.F) {
	for _, seed := range []string{
		"alice@example.com", " Bob@BÜCHER.de ", "bob@xn--bcher-kva.de", "a@b", "\x00", "a@ex\xffample.com",
		"josé@example.com", "\"quoted local\"@example.com", "a@[127.0.0.1]", "a@b.c.d.e.f", "ǅ@example.com",
		"correct horse", "Jane", "ab", "x_y.z-1",
		"ali\u200bce@example.com", "alice@ex\u0430mple.com", "user@пример.рф", "taro@東京タワー.jp", "می\u200cخواهم", "\u202eecilA",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if email, why := Email(s); why == "" {
			if !CleanText(email) || len(email) > MaxEmailBytes || email != strings.ToLower(email) {
				t.Fatalf("accepted email %q as %q", s, email)
			}
			if again, why := Email(email); why != "" || again != email {
				t.Fatalf("%q normalised to %q, which normalises to %q (%s)", s, email, again, why)
			}
			if hasFormatChar(email) || mixesScripts(email[:strings.LastIndexByte(email, '@')]) {
				t.Fatalf("accepted email %q with an invisible character or mixed scripts", email)
			}
		}
		if name, why := Name(&s); why == "" && name != nil {
			if !CleanText(*name) || utf8.RuneCountInString(*name) > MaxNameChars || *name != strings.TrimSpace(*name) {
				t.Fatalf("accepted name %q", *name)
			}
			if strings.IndexFunc(*name, func(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }) >= 0 {
				t.Fatalf("accepted name %q with a bidirectional control", *name)
			}
		}
		if u, why := Username(s); why == "" {
			if !usernamePattern.MatchString(u) {
				t.Fatalf("accepted username %q", u)
			}
		}
		if SignInPassword(s) == "" {
			if s == "" || len(s) > MaxSignInPasswordBytes || !CleanText(s) {
				t.Fatalf("accepted sign-in password %q", s)
			}
		}
	})
}
