package e2e

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// TestMeIsNeverStale: `me` reads the user from the database on every
// request (on PostgreSQL through database.DB.ReadUser, pgx without ent),
// so a change committed by another instance, or straight in the
// database, shows on the next `me` of this one.
func TestMeIsNeverStale(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		cfg := apptest.Config(t, b, nil)
		one := apptest.Start(t, cfg)
		two := apptest.Start(t, cfg) // a second instance: same database, same Redis

		c1 := one.Client()
		me := c1.SignUp(t, apptest.UniqueEmail("fresh"), userPassword)
		c2 := two.Client()
		c2.Token = me.AccessToken

		const meDoc = `{ me { id email username firstName lastName age role emailVerified } }`
		type meUser struct {
			ID, Email, Role     string
			Username, FirstName *string
			LastName            *string
			Age                 *int
			EmailVerified       bool
		}
		read := func(c *apptest.Client) meUser {
			t.Helper()
			res := c.Do(t, meDoc, nil)
			if res.Code() != "" {
				t.Fatalf("me: %s", res.Code())
			}
			var out struct{ Me meUser }
			res.Decode(t, &out)
			return out.Me
		}
		if got := read(c1); got.ID != me.User.ID || me.User.Email == nil || got.Email != *me.User.Email || got.Role != "USER" || got.FirstName != nil || got.Age != nil {
			t.Fatalf("me before any change: %+v", got)
		}

		// A change committed through the other instance.
		res := c2.Do(t, `mutation { updateProfile(input: {firstName: "Ada", lastName: "Lovelace", age: 36, username: "ada_l"}) { id } }`, nil)
		if res.Code() != "" {
			t.Fatalf("updateProfile on the second instance: %s", res.Code())
		}
		got := read(c1)
		if got.FirstName == nil || *got.FirstName != "Ada" || got.LastName == nil || *got.LastName != "Lovelace" ||
			got.Age == nil || *got.Age != 36 || got.Username == nil || *got.Username != "ada_l" {
			t.Fatalf("me on the first instance after the second committed a change: %+v", got)
		}

		// A change written straight into the database, as by an operator
		// or a process that is not gqlauth.
		id := uuid.MustParse(me.User.ID)
		if err := two.DB.User.UpdateOneID(id).SetFirstName("Grace").ClearAge().Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := read(c1); got.FirstName == nil || *got.FirstName != "Grace" || got.Age != nil {
			t.Fatalf("me after a direct database update: %+v", got)
		}

		// Deleted elsewhere: the next `me` says so, not the old row.
		if err := two.DB.User.DeleteOneID(id).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		if res := c1.Do(t, meDoc, nil); res.Code() != "UNAUTHENTICATED" {
			t.Fatalf("me of a deleted user: code %q, want UNAUTHENTICATED", res.Code())
		}
	})
}

// TestMeReadsWhatItSelects: `me` reads only the columns of the fields it
// selects (database.DB.ReadUser), so each field of User, asked alone,
// through a fragment, under an alias, or beside __typename, answers what
// the whole row gives. The fields come from introspection: one added to
// User later is checked too.
func TestMeReadsWhatItSelects(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		c := srv.Client()
		me := c.SignUp(t, apptest.UniqueEmail("columns"), userPassword)
		id := uuid.MustParse(me.User.ID)
		// Every column holds a value, so that one read by mistake or
		// left out shows.
		if err := srv.DB.User.UpdateOneID(id).SetFirstName("Ada").SetLastName("Lovelace").SetAge(36).
			SetUsername("ada_cols").SetUsernameKey("ada_cols").SetEmailVerifiedAt(time.Now()).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		var schema struct {
			Type struct{ Fields []struct{ Name string } } `json:"__type"`
		}
		c.Do(t, `{ __type(name: "User") { fields { name } } }`, nil).Decode(t, &schema)
		var names []string
		for _, f := range schema.Type.Fields {
			names = append(names, f.Name)
		}
		if len(names) < 11 {
			t.Fatalf("User has %d fields: %v", len(names), names)
		}
		var whole struct{ Me map[string]any }
		c.Do(t, `{ me { `+strings.Join(names, " ")+` } }`, nil).Decode(t, &whole)
		for _, n := range names {
			if whole.Me[n] == nil {
				t.Fatalf("me.%s is null with every column set: %v", n, whole.Me)
			}
		}
		for _, n := range names {
			for _, doc := range []string{
				`{ me { ` + n + ` } }`,
				`{ me { __typename ...F } } fragment F on User { ` + n + ` }`,
				`{ me { x: ` + n + ` ... on Node { id } } }`,
			} {
				var got struct{ Me map[string]any }
				c.Do(t, doc, nil).Decode(t, &got)
				key := n
				if strings.Contains(doc, "x: ") {
					key = "x"
				}
				if !reflect.DeepEqual(got.Me[key], whole.Me[n]) {
					t.Errorf("%s: %s = %v, the whole row gives %v", doc, key, got.Me[key], whole.Me[n])
				}
			}
		}
	})
}
