package password

import (
	"sync"

	"github.com/trustelem/zxcvbn/frequency"
)

// CommonSource names where the list of common passwords comes from, for
// the documentation (docs/security.md).
const CommonSource = "the 30,000 most common passwords of zxcvbn's frequency lists " +
	"(Mark Burnett's corpus of 10 million leaked passwords, as published by xato.net), " +
	"from github.com/trustelem/zxcvbn v1.0.1 (MIT licence), a Go port of Dropbox's zxcvbn (MIT licence)"

// commonPasswords is the set of common passwords, built on first use.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	list := frequency.FrequencyLists["passwords"]
	set := make(map[string]struct{}, len(list))
	for _, p := range list {
		set[p] = struct{}{}
	}
	return set
})

// CommonCount is how many passwords the common-password list holds.
func CommonCount() int { return len(commonPasswords()) }

// isCommon reports whether a lower-cased password is on the list.
func isCommon(lower string) bool {
	_, ok := commonPasswords()[lower]
	return ok
}
