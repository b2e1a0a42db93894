package graph

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gqlauth/gqlauth/graph/sdl"
)

// secretName matches the names of arguments and input fields that carry a
// password, a one-time code, a token or a recovery secret.
var secretName = regexp.MustCompile(`(?i)password|token|code|secret|otp|recovery`)

// notCredentialFields are the arguments that carry a secret on a mutation
// deliberately left unmarked, each with its reason. Ending sessions must
// never be refused by the rate limit (a user who shares an address with
// an attacker must still be able to log out), and the refresh token they
// take only names the session to end: it is 256 random bits, checked by
// hash, which no rate limit makes harder to guess.
var notCredentialFields = map[string]string{
	"Mutation.logout(refreshToken)": "ending a session is never throttled",
	"Mutation.revoke(refreshToken)": "ending a session is never throttled; needs an access token",
}

// TestSecretArgumentsAreCredentialFields walks every Mutation field and
// fails if one that takes a password, a code or a token — as an argument
// or as a field of an input object, however deeply nested — is not marked
// @credential, and so would be neither rate-limited nor once per
// operation. A new mutation is covered by being marked, not by a list.
func TestSecretArgumentsAreCredentialFields(t *testing.T) {
	var unmarked []string
	for _, f := range testSchema.Mutation.Fields {
		if f.Directives.ForName(credentialDirective) != nil {
			continue
		}
		for _, path := range secretArguments(testSchema, f) {
			if _, ok := notCredentialFields[path]; !ok {
				unmarked = append(unmarked, path)
			}
		}
	}
	if len(unmarked) > 0 {
		t.Errorf("these mutations take a secret but are not marked @credential in graph/schema:\n  %s",
			strings.Join(unmarked, "\n  "))
	}
	// An exemption names an argument that exists and carries a secret, so
	// it cannot outlive its reason unnoticed.
	for path := range notCredentialFields {
		found := false
		for _, f := range testSchema.Mutation.Fields {
			for _, p := range secretArguments(testSchema, f) {
				found = found || p == path
			}
		}
		if !found {
			t.Errorf("notCredentialFields lists %s, which is not a secret argument of an unmarked mutation", path)
		}
	}
}

// secretArguments are the paths, like "Mutation.signIn(input.password)",
// of f's arguments and nested input fields whose names look like secrets.
func secretArguments(s *ast.Schema, f *ast.FieldDefinition) []string {
	var out []string
	var walk func(path string, typ *ast.Type, seen map[string]bool)
	walk = func(path string, typ *ast.Type, seen map[string]bool) {
		def := s.Types[typ.Name()]
		if def == nil || def.Kind != ast.InputObject || seen[def.Name] {
			return
		}
		seen[def.Name] = true
		defer delete(seen, def.Name)
		for _, in := range def.Fields {
			if secretName.MatchString(in.Name) {
				out = append(out, "Mutation."+f.Name+"("+path+"."+in.Name+")")
			}
			walk(path+"."+in.Name, in.Type, seen)
		}
	}
	for _, a := range f.Arguments {
		if secretName.MatchString(a.Name) {
			out = append(out, "Mutation."+f.Name+"("+a.Name+")")
		}
		walk(a.Name, a.Type, map[string]bool{})
	}
	return out
}

// TestCredentialFieldsReadFromSchema checks the marks survive into the
// schema the server executes with (sdl.Public, which drops gqlgen's own
// directives) and that the error message lists exactly the marked fields.
func TestCredentialFieldsReadFromSchema(t *testing.T) {
	public := credentialFieldsOf(sdl.Public(testSchema))
	if public.names != testCreds.names || len(public.marked) != len(testCreds.marked) {
		t.Fatalf("the public schema marks %q, the schema %q", public.names, testCreds.names)
	}
	var marked []string
	for name := range testCreds.marked {
		marked = append(marked, name)
		if !strings.Contains(testCreds.names, name) {
			t.Errorf("the message %q leaves out %s", testCreds.names, name)
		}
	}
	sort.Strings(marked)
	// signIn, signUp and refresh take secrets and so are covered by
	// TestSecretArgumentsAreCredentialFields; updateProfile takes none
	// but tells whether an email is taken, so it must stay marked too.
	if !testCreds.marked["updateProfile"] {
		t.Errorf("updateProfile is not marked @credential (marked: %v)", marked)
	}
	if strings.Count(testCreds.names, ",")+2 != len(marked) {
		t.Errorf("the message %q does not name the %d marked fields", testCreds.names, len(marked))
	}
}

func TestClientKeyGroupsIPv6By64(t *testing.T) {
	if a, b := clientKey("2001:db8:1:2::1"), clientKey("2001:db8:1:2:ffff::9"); a != b {
		t.Fatalf("one /64 gave two keys: %q %q", a, b)
	}
	if a, b := clientKey("2001:db8:1:2::1"), clientKey("2001:db8:1:3::1"); a == b {
		t.Fatalf("two /64s gave one key %q", a)
	}
	if got := clientKey("::ffff:192.0.2.1"); got != "192.0.2.1" {
		t.Fatalf("IPv4-mapped address keyed as %q", got)
	}
}
