package password_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/internal/password"
)

func newPolicy(t *testing.T, set password.PolicySettings) (*password.Policy, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	p, err := password.NewPolicy(set, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return p, logs
}

func TestPolicy(t *testing.T) {
	p, _ := newPolicy(t, password.PolicySettings{})
	account := []string{"alice.smith@example.com", "Wonderland_42"}
	for _, tc := range []struct {
		name, password, want string
	}{
		{"fine", "correct horse battery staple", ""},
		{"eight random", "x7#Kq2!m", ""},
		{"too short", "x7#Kq2!", "must be at least 8 characters"},
		// Eight code points, more than eight bytes: counted in code points.
		{"eight code points", "żółćźęąś", ""},
		{"seven code points in many bytes", "żółćźęą", "must be at least 8 characters"},
		// NFKC: "e" + combining acute is one code point once normalised.
		{"decomposed accents count once", "e\u0301e\u0301e\u0301e\u0301", "must be at least 8 characters"},
		{"max length", strings.Repeat("abcdefgh", 16), ""},
		{"too long", strings.Repeat("abcdefgh", 16) + "x", "must be at most 128 characters"},
		{"long passphrase", "my grandmother's kitchen smelled of cardamom and burnt toast", ""},
		{"control character", "pass\nword-long-enough", "must not contain control characters"},
		{"invalid UTF-8", "abcdefgh\xff", "must be valid UTF-8 text"},
		{"common", "password", "is too common"},
		{"common with digit", "password1", "is too common"},
		{"common any case", "PassWord", "is too common"},
		{"common with a year and a bang", "Dragon2024!", "is too common"},
		{"common inside long random tail", "dragon-93847562", ""},
		{"all digits common", "12345678", "is too common"},
		{"repeated character", "aaaaaaaaaa", "is too common"},
		{"repeated unit", "xyzxyzxyz", "is too common"},
		{"sequence", "rstuvwxyz", "is too common"},
		{"descending sequence", "98765432", "is too common"},
		{"service name", "gqlauth!!", "must not be based on the username, the email address or the name of the service"},
		{"service name any case", "GqlAuth2024", "must not be based on the username, the email address or the name of the service"},
		{"username", "wonderland_42", "must not be based on the username, the email address or the name of the service"},
		{"email local part", "Alice.Smith1", "must not be based on the username, the email address or the name of the service"},
		{"whole email", "alice.smith@example.com", "must not be based on the username, the email address or the name of the service"},
		{"username inside a passphrase is fine", "wonderland_42 likes long walks", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Check(context.Background(), tc.password, account...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Check(%q) = %q, want %q", tc.password, got, tc.want)
			}
		})
	}
}

func TestPolicyMinLength(t *testing.T) {
	p, _ := newPolicy(t, password.PolicySettings{MinLength: 15})
	if got, _ := p.Check(context.Background(), "fourteen chars"); got != "must be at least 15 characters" {
		t.Errorf("got %q", got)
	}
	if got, _ := p.Check(context.Background(), "fifteen chars!!"); got != "" {
		t.Errorf("got %q", got)
	}
	for _, bad := range []int{-1, password.MaxLength + 1} {
		if _, err := password.NewPolicy(password.PolicySettings{MinLength: bad}, slog.Default()); err == nil {
			t.Errorf("min length %d accepted", bad)
		}
	}
}

// TestCommonList checks the list is the promised size and that every
// long enough entry of it is refused.
func TestCommonList(t *testing.T) {
	if n := password.CommonCount(); n < 10000 {
		t.Fatalf("common-password list has %d entries, want at least 10,000", n)
	}
	p, _ := newPolicy(t, password.PolicySettings{})
	for _, pw := range []string{"iloveyou1", "qwerty123", "football", "baseball1", "trustno1", "1qaz2wsx", "sunshine"} {
		if got, _ := p.Check(context.Background(), pw); got != password.ReasonCommon {
			t.Errorf("Check(%q) = %q, want %q", pw, got, password.ReasonCommon)
		}
	}
}

func TestPolicyContextWords(t *testing.T) {
	p, _ := newPolicy(t, password.PolicySettings{ContextWords: []string{"Acme Cloud"}})
	if got, _ := p.Check(context.Background(), "acme cloud 1"); got != password.ReasonContext {
		t.Errorf("got %q", got)
	}
	// Short words are not context: "bob" as a username does not forbid
	// every password around "bob".
	if got, _ := p.Check(context.Background(), "bobsleigh-river", "bo"); got != "" {
		t.Errorf("got %q", got)
	}
}

func ExamplePolicy_Check() {
	p, _ := password.NewPolicy(password.PolicySettings{MinLength: 8}, slog.Default())
	for _, pw := range []string{"short", "password1", "jane.doe!", "four rusty keys under a mat"} {
		reason, _ := p.Check(context.Background(), pw, "jane.doe@example.com", "jdoe")
		fmt.Printf("%q: %q\n", pw, reason)
	}
	// Output:
	// "short": "must be at least 8 characters"
	// "password1": "is too common"
	// "jane.doe!": "must not be based on the username, the email address or the name of the service"
	// "four rusty keys under a mat": ""
}
