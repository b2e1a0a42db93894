//go:build ignore

// commongen.go writes common.txt, the common-password list, from
// zxcvbn's frequency lists: go run commongen.go (in internal/password).
// common_test.go checks the file still matches.
package main

import (
	"log"
	"os"
	"slices"
	"strings"

	"github.com/trustelem/zxcvbn/frequency"
)

func main() {
	list := slices.Clone(frequency.FrequencyLists["passwords"])
	for i, p := range list {
		list[i] = strings.ToLower(p)
	}
	slices.Sort(list)
	list = slices.Compact(list)
	if err := os.WriteFile("common.txt", []byte(strings.Join(list, "\n")+"\n"), 0o644); err != nil {
		log.Fatal(err)
	}
}
