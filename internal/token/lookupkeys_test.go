package token

import (
	"slices"
	"testing"
)

// TestLookupKeysAreTheDenialKeys checks that the keys Denied reads, cut
// from one string, are the very keys the denials are written under.
func TestLookupKeysAreTheDenialKeys(t *testing.T) {
	r := NewRedisDenyList(nil, "gqlauth:", 0)
	c := &Claims{SessionID: "0193c0de-5e55-7000-8000-000000000002"}
	c.Subject, c.ID = "0193c0de-5e55-7000-8000-000000000001", "0193c0de-5e55-7000-8000-000000000003"
	want := []string{
		"gqlauth:" + jtiKey(c.Subject, c.ID),
		"gqlauth:" + sidKey(c.Subject, c.SessionID),
		"gqlauth:" + userKey(c.Subject),
	}
	if got := r.lookupKeys(c, false); !slices.Equal(got, want) {
		t.Fatalf("lookupKeys = %q, want %q", got, want)
	}
	if got := r.lookupKeys(c, true); !slices.Equal(got, append(want, "gqlauth:"+epochKey())) {
		t.Fatalf("lookupKeys with the epoch = %q", got)
	}
	if got := r.lookupKeys(c, false)[0]; got != "gqlauth:deny:v2:{"+c.Subject+"}:jti:"+c.ID {
		t.Fatalf("the token's key is %q, not in layout 2", got)
	}
}
