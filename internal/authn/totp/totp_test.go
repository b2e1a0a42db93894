package totp

import (
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/datakey"
)

// TestMatch: a code of this step or one either side matches (and names
// its step); two steps away, a wrong code, or a code of the wrong length
// does not; spaces and dashes people type are dropped first.
func TestMatch(t *testing.T) {
	c := New(datakey.Generate().Box(Purpose), "Acme", nil, nil)
	e, err := c.NewSecret(uuid.New(), "jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_015, 0) // mid-step
	step := now.Unix() / period
	for offset, ok := range map[int64]bool{-2: false, -1: true, 0: true, 1: true, 2: false} {
		code, _ := Code(e.Secret, now.Add(time.Duration(offset*period)*time.Second))
		got, matched := match(e.Secret, code, now)
		if matched != ok || (ok && got != step+offset) {
			t.Errorf("offset %d: step %d matched %v", offset, got, matched)
		}
	}
	code, _ := Code(e.Secret, now)
	if _, ok := match(e.Secret, normalize(code[:3]+" "+code[3:]), now); !ok {
		t.Error("a code typed with a space does not match")
	}
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	for _, bad := range []string{string(wrong), code[:5], code + "0", "", "abcdef"} {
		if _, ok := match(e.Secret, bad, now); ok {
			t.Errorf("%q matched", bad)
		}
	}
}

// TestNewSecret: the URI is what authenticator apps read (SHA1, 6 digits,
// 30 s, the issuer and account), and the sealed secret opens only for
// its own factor under its own purpose.
func TestNewSecret(t *testing.T) {
	key := datakey.Generate()
	c := New(key.Box(Purpose), "Acme", nil, nil)
	id := uuid.New()
	e, err := c.NewSecret(id, "jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(e.URI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Acme:jane@example.com" {
		t.Fatalf("uri %q", e.URI)
	}
	q := u.Query()
	if q.Get("secret") != e.Secret || q.Get("issuer") != "Acme" || q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Fatalf("uri parameters %v", q)
	}
	if got, err := key.Box(Purpose).Open(e.Sealed, id[:]); err != nil || string(got) != e.Secret {
		t.Fatalf("sealed secret does not open: %v", err)
	}
	other := uuid.New()
	if _, err := key.Box(Purpose).Open(e.Sealed, other[:]); err == nil {
		t.Fatal("the sealed secret opens for another factor")
	}
	if _, err := key.Box("gqlauth signing keys v1").Open(e.Sealed, id[:]); err == nil {
		t.Fatal("the sealed secret opens under another purpose")
	}
}
