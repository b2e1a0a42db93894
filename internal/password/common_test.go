package password

import (
	"slices"
	"strings"
	"testing"

	"github.com/trustelem/zxcvbn/frequency"
)

// TestCommonListIsZxcvbns: common.txt holds exactly zxcvbn's password
// list (lower-cased, sorted, without repeats), so that the embedded copy
// cannot drift from its source; `go run commongen.go` rewrites it.
func TestCommonListIsZxcvbns(t *testing.T) {
	want := slices.Clone(frequency.FrequencyLists["passwords"])
	for i, p := range want {
		want[i] = strings.ToLower(p)
	}
	slices.Sort(want)
	want = slices.Compact(want)
	if got := strings.Split(strings.TrimSuffix(common, "\n"), "\n"); !slices.Equal(got, want) {
		t.Fatalf("common.txt has %d lines, zxcvbn's list %d: run go run commongen.go in internal/password", len(got), len(want))
	}
	if CommonCount() != len(want) {
		t.Fatalf("CommonCount %d, want %d", CommonCount(), len(want))
	}
}

// TestIsCommonFindsEveryEntryAndNothingElse: the binary search finds
// each listed password, first, last and in between, and none of the
// strings that sort right beside them.
func TestIsCommonFindsEveryEntryAndNothingElse(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(common, "\n"), "\n")
	listed := make(map[string]bool, len(lines))
	for _, l := range lines {
		listed[l] = true
	}
	for _, l := range lines {
		if !isCommon(l) {
			t.Fatalf("isCommon(%q) = false for a listed password", l)
		}
		for _, near := range []string{l + "\x00", l + "~", l[:len(l)-1], "\x00" + l, ""} {
			if !listed[near] && isCommon(near) {
				t.Fatalf("isCommon(%q) = true for a password not on the list", near)
			}
		}
	}
	for _, s := range []string{"", "\n", "zzzzzzzzzzzzzzzzzzzzzz", "!", "correct horse battery staple"} {
		if isCommon(s) != listed[s] {
			t.Errorf("isCommon(%q) = %v", s, isCommon(s))
		}
	}
}
