package graph

import (
	"strings"
	"testing"
)

func TestBadString(t *testing.T) {
	for s, bad := range map[string]bool{
		"plain":                   false,
		"ünïcödé 名前 🙂":            false,
		"tab\there":               true,
		"nul\x00":                 true,
		"bell\a":                  true,
		"del\x7f":                 true,
		"c1\u0085":                true,
		"\xff\xfe":                true,
		"replacement \ufffd":      true,
		strings.Repeat("x", 1025): true,
		strings.Repeat("x", 1024): false,
	} {
		if got := badString(s, 1024) != ""; got != bad {
			t.Errorf("%.20q: bad=%v, want %v", s, got, bad)
		}
	}
}
