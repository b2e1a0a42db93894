package validate

import (
	"slices"
	"strings"
	"unicode"
)

// Invisible and look-alike characters. An email that differs from
// another only by a zero-width character, or by a Cyrillic "а" in place
// of a Latin "a", is a second account that looks like the first; a name
// with a right-to-left override shows its text reversed wherever it is
// displayed. These checks refuse such input.

// Reasons given in extensions.fields.
const (
	whyInvisible = "must not contain invisible formatting characters (such as zero-width spaces)"
	whyBidi      = "must not contain bidirectional control characters"
	whyMixed     = "mixes scripts that look alike (such as Latin and Cyrillic) in one part of the address"
)

// hasFormatChar reports whether s holds a character of Unicode category
// Cf (format): zero-width spaces and joiners, soft hyphens, byte order
// marks, bidirectional controls and the like, all invisible.
func hasFormatChar(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.Is(unicode.Cf, r) }) >= 0
}

// checkNameChars explains what makes a name's characters unacceptable,
// or returns "". Bidirectional controls (U+202A–U+202E, U+2066–U+2069,
// and the marks U+061C, U+200E, U+200F) are refused, and so is every
// other format character, except a zero-width non-joiner or joiner
// between two visible characters: Persian and Indic names need them, and
// so do emoji sequences.
func checkNameChars(s string) string {
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case unicode.Is(unicode.Bidi_Control, r):
			return whyBidi
		case r == '\u200c' || r == '\u200d':
			if i == 0 || i == len(rs)-1 || !visible(rs[i-1]) || !visible(rs[i+1]) {
				return whyInvisible
			}
		case unicode.Is(unicode.Cf, r):
			return whyInvisible
		}
	}
	return ""
}

// visible reports whether r is a letter, mark, number or symbol: what a
// joiner may stand between.
func visible(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.S)
}

// mixesScripts reports whether s mixes scripts in a way UTS #39's "Highly
// Restrictive" level refuses. Characters of the Common and Inherited
// scripts (digits, punctuation, combining marks) go with any script. The
// rest must come from one script, or from one of the combinations that
// writing systems use together: Latin with Han, Hiragana and Katakana
// (Japanese), Latin with Han and Bopomofo (Chinese), Latin with Han and
// Hangul (Korean). So "пример" and "東京タワー" pass, and "exаmple" with a
// Cyrillic "а" does not.
//
// The script of a character is its Unicode Script property (Go's unicode
// tables); UTS #39 uses Script_Extensions, which the standard library
// lacks. The difference is characters shared by several scripts, which
// here count as the one Unicode assigns them, or as Common: for the
// mixes refused below, that changes nothing.
func mixesScripts(s string) bool {
	var seen []*unicode.RangeTable
	for _, r := range s {
		t := scriptOf(r)
		if t == nil || t == unicode.Common || t == unicode.Inherited {
			continue
		}
		if !slices.Contains(seen, t) {
			seen = append(seen, t)
		}
	}
	if len(seen) <= 1 {
		return false
	}
	for _, allowed := range highlyRestrictiveSets {
		if !slices.ContainsFunc(seen, func(t *unicode.RangeTable) bool { return !slices.Contains(allowed, t) }) {
			return false
		}
	}
	return true
}

// highlyRestrictiveSets are the script combinations UTS #39 §5.2 allows
// at the "Highly Restrictive" level besides a single script.
var highlyRestrictiveSets = [][]*unicode.RangeTable{
	{unicode.Latin, unicode.Han, unicode.Hiragana, unicode.Katakana},
	{unicode.Latin, unicode.Han, unicode.Bopomofo},
	{unicode.Latin, unicode.Han, unicode.Hangul},
}

// scriptOf returns the Unicode script of r, or nil when it has none.
func scriptOf(r rune) *unicode.RangeTable {
	switch {
	case r < 0x80 && ('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'):
		return unicode.Latin
	case r < 0x80:
		return unicode.Common
	}
	for _, t := range unicode.Scripts {
		if unicode.Is(t, r) {
			return t
		}
	}
	return nil
}
