package password_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/internal/password"
)

// FuzzPolicy: any input gets one of the documented reasons (or none),
// never a panic, and a reason never repeats the password.
func FuzzPolicy(f *testing.F) {
	for _, s := range []string{"", "password1", "żółćźęąś", "e\u0301e\u0301", "abc\x00def", "\xff\xfe", strings.Repeat("x", 200), "Alice.Smith1"} {
		f.Add(s)
	}
	p, err := password.NewPolicy(password.PolicySettings{}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	reasons := []string{"", password.ReasonControl, password.ReasonCommon, password.ReasonContext, password.ReasonNotString,
		"must be at least 8 characters", "must be at most 128 characters"}
	f.Fuzz(func(t *testing.T, pw string) {
		reason, err := p.Check(context.Background(), pw, "alice.smith@example.com", "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(reasons, reason) {
			t.Fatalf("Check(%q) = %q, not a documented reason", pw, reason)
		}
	})
}
