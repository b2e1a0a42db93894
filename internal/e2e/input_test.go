package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apptest"
)

const updateProfileDoc = `mutation($in: UpdateProfileInput!) { updateProfile(input: $in) { id email firstName lastName } }`

// wantFieldError fails unless res is BAD_USER_INPUT whose
// extensions.fields names field (with a reason containing why, when why
// is not empty).
func wantFieldError(t *testing.T, res *apptest.Response, field, why string) {
	t.Helper()
	if res.Code() != "BAD_USER_INPUT" {
		t.Fatalf("want BAD_USER_INPUT naming %s, got %s", field, res.Body)
	}
	fields, _ := res.Errors[0].Extensions["fields"].(map[string]any)
	reason, _ := fields[field].(string)
	if reason == "" || !strings.Contains(reason, why) {
		t.Fatalf("extensions.fields[%q] = %q, want a reason containing %q: %s", field, reason, why, res.Body)
	}
}

// TestNameLengthCountsCharacters: names are bounded in characters, and
// the database column takes every name validation accepts. 26 emoji are
// 104 bytes: they used to pass validation (26 characters) and fail ent's
// byte-counting MaxLen as INTERNAL_SERVER_ERROR.
func TestNameLengthCountsCharacters(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		emoji26 := strings.Repeat("😀", 26)   // 104 bytes
		emoji100 := strings.Repeat("😀", 100) // 400 bytes, the most a name may hold
		var out struct{ SignUp apptest.Payload }
		c.Do(t, signUpDoc, map[string]any{"in": map[string]any{
			"email": apptest.UniqueEmail("emoji"), "password": password, "firstName": emoji26, "lastName": emoji100,
		}}).Decode(t, &out)
		c.Token = out.SignUp.AccessToken
		u, err := srv.DB.User.Get(context.Background(), uuid.MustParse(out.SignUp.User.ID))
		if err != nil || u.FirstName == nil || *u.FirstName != emoji26 || u.LastName == nil || *u.LastName != emoji100 {
			t.Fatalf("stored %+v (%v), want the names as given", u, err)
		}

		res := c.Do(t, updateProfileDoc, map[string]any{"in": map[string]any{"firstName": emoji100, "lastName": emoji26}})
		wantOK(t, res)
		res = c.Do(t, updateProfileDoc, map[string]any{"in": map[string]any{"firstName": strings.Repeat("é", 101)}})
		wantFieldError(t, res, "firstName", "at most 100 characters")
		res = c.Do(t, signUpDoc, map[string]any{"in": map[string]any{
			"email": apptest.UniqueEmail("long"), "password": password, "lastName": strings.Repeat("😀", 101),
		}})
		wantFieldError(t, res, "lastName", "at most 100 characters")

		// Passwords are counted in characters (code points), and the
		// message says so: four two-byte letters are 8 bytes but only 4
		// characters, too short; eight of them are enough.
		res = c.Do(t, signUpDoc, map[string]any{"in": map[string]any{"email": apptest.UniqueEmail("pw"), "password": "short"}})
		wantFieldError(t, res, "password", "at least 8 characters")
		res = c.Do(t, signUpDoc, map[string]any{"in": map[string]any{"email": apptest.UniqueEmail("pw"), "password": "éééé"}})
		wantFieldError(t, res, "password", "at least 8 characters")
		res = c.Do(t, signUpDoc, map[string]any{"in": map[string]any{"email": apptest.UniqueEmail("pw"), "password": "ŵŷźžƀƃƈƌ"}})
		wantOK(t, res)
	})
}

// TestInvisibleAndLookalikeCharacters: an email, username or name with
// an invisible format character (Unicode category Cf), a name with a
// bidirectional control, and an email whose domain label (or local part)
// mixes scripts like Latin and Cyrillic are refused, naming the field,
// in signUp and in updateProfile; legitimate non-Latin input still works.
func TestInvisibleAndLookalikeCharacters(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"EMAIL_VERIFICATION": "off"}) // updateProfile sets the email
		c := srv.Client()
		victim := c.SignUp(t, "alice@example.com", password)
		c.Token = ""

		refused := []struct {
			name, field, value, why string
		}{
			{"zero-width space in local part", "email", "ali\u200bce@example.com", "invisible"},
			{"soft hyphen in domain", "email", "alice@exa\u00admple.com", "invisible"},
			{"right-to-left override in email", "email", "\u202eecila@example.com", "invisible"},
			{"byte order mark in email", "email", "alice\ufeff@example.com", "invisible"},
			{"Cyrillic a in a Latin domain label", "email", "alice@ex\u0430mple.com", "mixes scripts"},
			{"Greek omicron in a Latin domain label", "email", "alice@g\u03bfogle.com", "mixes scripts"},
			{"Cyrillic a in a Latin local part", "email", "\u0430lice@example.com", "mixes scripts"},
			{"zero-width space in username", "username", "alice\u200b", ""},
			{"zero-width joiner in username", "username", "al\u200dice", ""},
			{"zero-width space in first name", "firstName", "Ali\u200bce", "invisible"},
			{"word joiner in last name", "lastName", "Lid\u2060dell", "invisible"},
			{"right-to-left override in first name", "firstName", "\u202eecilA", "bidirectional"},
			{"left-to-right isolate in last name", "lastName", "x\u2066y\u2069", "bidirectional"},
			{"left-to-right embedding in first name", "firstName", "a\u202ab", "bidirectional"},
		}
		for _, tc := range refused {
			in := map[string]any{"email": apptest.UniqueEmail("x"), "password": password, tc.field: tc.value}
			res := c.Do(t, signUpDoc, map[string]any{"in": in})
			t.Run("signUp/"+tc.name, func(t *testing.T) { wantFieldError(t, res, tc.field, tc.why) })
		}
		if n, err := srv.DB.User.Query().Count(context.Background()); err != nil || n != 1 {
			t.Fatalf("refused sign-ups stored accounts: %d users (%v)", n, err)
		}

		// updateProfile checks the same way.
		me := srv.Client()
		me.SignUp(t, apptest.UniqueEmail("me"), password)
		for _, tc := range refused {
			res := me.Do(t, updateProfileDoc, map[string]any{"in": map[string]any{tc.field: tc.value}})
			t.Run("updateProfile/"+tc.name, func(t *testing.T) { wantFieldError(t, res, tc.field, tc.why) })
		}

		// What is legitimate stays accepted: one script per label, the
		// Japanese mix of Han and Katakana, a Persian name with its
		// zero-width non-joiner between letters, an emoji sequence.
		for _, in := range []map[string]any{
			{"email": "bob@bücher.de"},
			{"email": "user@пример.рф", "firstName": "Мария"},
			{"email": "taro@東京タワー.jp", "lastName": "山田"},
			{"email": "josé@example.com", "firstName": "Zoë", "lastName": "O'Brien-Ñúñez"},
			{"email": apptest.UniqueEmail("fa"), "lastName": "می\u200cخواهم", "firstName": "👩\u200d💻"},
		} {
			in["password"] = password
			if res := c.Do(t, signUpDoc, map[string]any{"in": in}); len(res.Errors) > 0 {
				t.Errorf("signUp %q: %s", in, res.Body)
			}
		}
		res := me.Do(t, updateProfileDoc, map[string]any{"in": map[string]any{"email": "me@例え.テスト", "firstName": "Ελένη"}})
		wantOK(t, res)

		// Sign-in with a look-alike of the victim's address finds nobody:
		// it is refused as input, not matched.
		res = c.Do(t, signInDoc, map[string]any{"in": map[string]any{"email": "alice@ex\u0430mple.com", "password": password}})
		wantFieldError(t, res, "email", "mixes scripts")
		if n, _ := srv.DB.User.Query().Where(user.EmailHasPrefix("alice@")).Count(context.Background()); n != 1 || victim.User.Email == nil {
			t.Fatalf("%d accounts start with alice@, want the victim's only", n)
		}
	})
}
