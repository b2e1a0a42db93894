package password

import (
	_ "embed"
	"strings"
)

// CommonSource names where the list of common passwords comes from, for
// the documentation (docs/security.md).
const CommonSource = "the 30,000 most common passwords of zxcvbn's frequency lists " +
	"(Mark Burnett's corpus of 10 million leaked passwords, as published by xato.net), " +
	"from github.com/trustelem/zxcvbn v1.0.1 (MIT licence), a Go port of Dropbox's zxcvbn (MIT licence)"

// common is the list of common passwords, lower-cased, sorted bytewise,
// one per line (written by commongen.go; common_test.go checks it
// against zxcvbn's list). It is searched where it lies in the binary:
// importing zxcvbn's package instead kept all six of its lists, 2.8 MiB,
// on the heap for the life of the process.
//
//go:embed common.txt
var common string

// CommonCount is how many passwords the common-password list holds.
func CommonCount() int { return strings.Count(common, "\n") }

// isCommon reports whether a lower-cased password is on the list: a
// binary search over the sorted lines.
func isCommon(lower string) bool {
	s := common
	for len(s) > 0 {
		mid := len(s) / 2
		start := strings.LastIndexByte(s[:mid], '\n') + 1
		end := strings.IndexByte(s[mid:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += mid
		}
		switch line := s[start:end]; {
		case line == lower:
			return true
		case line < lower:
			if end >= len(s) {
				return false
			}
			s = s[end+1:]
		default:
			if start == 0 {
				return false
			}
			s = s[:start-1]
		}
	}
	return false
}
