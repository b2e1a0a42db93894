package graph

import (
	"slices"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/graph/sdl"
)

// TestAAL1AllowList: the root fields a session still due to step up may
// use are exactly the list (me, factors, verifyMfa, refresh,
// logout, sessions), the passkey sign-in that steps up
// (beginPasskeySignIn, finishPasskeySignIn), the mutations whose proof
// is a mail (verifyEmail, resetPassword, confirmEmailChange) and the two
// that need no session (signIn, signUp); a user who must enroll may also use
// enrollTotp, verifyTotpEnrollment and the passkey registration. A new field is guarded unless its schema marks it.
func TestAAL1AllowList(t *testing.T) {
	a := assuranceFieldsOf(sdl.Public(NewExecutableSchema(Config{}).Schema()))
	keys := func(m map[string]bool) string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	want := "Mutation.beginPasskeySignIn Mutation.confirmEmailChange Mutation.finishPasskeySignIn Mutation.logout Mutation.refresh Mutation.resetPassword Mutation.signIn Mutation.signUp Mutation.verifyEmail Mutation.verifyMfa Query.factors Query.me Query.sessions"
	if got := keys(a.aal1); got != want {
		t.Errorf("@aal1 fields:\n got %s\nwant %s", got, want)
	}
	if got := keys(a.enrollment); got != "Mutation.beginPasskeyRegistration Mutation.enrollTotp Mutation.finishPasskeyRegistration Mutation.verifyTotpEnrollment" {
		t.Errorf("@enrollment fields: %s", got)
	}
}
