package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// nestedNot is a UserWhereInput of levels input objects: NOT inside NOT
// around an email filter.
func nestedNot(levels int) map[string]any {
	w := map[string]any{"emailContainsFold": "example"}
	for i := 1; i < levels; i++ {
		w = map[string]any{"not": w}
	}
	return w
}

// manyOrs is a UserWhereInput holding an OR of n email filters.
func manyOrs(n int) map[string]any {
	or := make([]any, n)
	for i := range or {
		or[i] = map[string]any{"emailContainsFold": fmt.Sprintf("probe-%d", i)}
	}
	return map[string]any{"or": or}
}

// TestInputBounds checks GRAPHQL_MAX_INPUT_LIST and
// GRAPHQL_MAX_INPUT_DEPTH: lists longer than 100 items and input objects
// nested deeper than 10 are refused with BAD_USER_INPUT naming the field,
// before anything runs (an OR of 20,000 filters kept PostgreSQL backends
// busy for minutes; 5,000 nested NOTs were an INTERNAL_SERVER_ERROR), while
// the largest allowed inputs run, for an ADMIN, on every database.
func TestInputBounds(t *testing.T) {
	const users = `query($w: UserWhereInput) { users(first: 5, where: $w) { edges { node { id } } } }`
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		admin := newAdmin(t, srv, "bounds")
		refused := []struct {
			name, query string
			vars        map[string]any
			field, why  string
		}{
			{"an OR of 101 filters", users, map[string]any{"w": manyOrs(101)}, "$w.or", "at most 100 items"},
			{"an OR of 20,000 filters", users, map[string]any{"w": manyOrs(20000)}, "$w.or", "at most 100 items"},
			{"11 nested input objects", users, map[string]any{"w": nestedNot(11)}, "$w.not.not.not.not.not.not.not.not.not.not", "more than 10 deep"},
			{"5,000 nested NOTs", users, map[string]any{"w": nestedNot(5000)}, "$w.not.not.not.not.not.not.not.not.not.not", "more than 10 deep"},
			{"nodes of 101 ids", `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
				map[string]any{"ids": strings.Split(strings.TrimSuffix(strings.Repeat(admin.ID+",", 101), ","), ",")}, "$ids", "at most 100 items"},
			{"a literal OR of 101 filters", `{ users(where: {or: [` + strings.Repeat(`{emailContainsFold: "x"} `, 101) + `]}) { totalCount } }`,
				nil, "where.or", "at most 100 items"},
			{"11 literal nested input objects", `{ users(where: ` + strings.Repeat(`{not: `, 10) + `{emailContainsFold: "x"}` + strings.Repeat(`}`, 10) + `) { totalCount } }`,
				nil, "where.not.not.not.not.not.not.not.not.not.not", "more than 10 deep"},
		}
		for _, r := range refused {
			start := time.Now()
			res := admin.Do(t, r.query, r.vars)
			if res.Code() != "BAD_USER_INPUT" || res.Status >= 500 {
				t.Fatalf("%s: want BAD_USER_INPUT, got %d %.300s", r.name, res.Status, res.Body)
			}
			fields, _ := res.Errors[0].Extensions["fields"].(map[string]any)
			if why, _ := fields[r.field].(string); !strings.Contains(why, r.why) {
				t.Fatalf("%s: extensions.fields %v, want %s: …%s…", r.name, fields, r.field, r.why)
			}
			t.Logf("%s: refused in %s", r.name, time.Since(start).Round(time.Millisecond))
		}
		allowed := []struct {
			name string
			vars map[string]any
		}{
			{"an OR of 100 filters", map[string]any{"w": manyOrs(100)}},
			{"10 nested input objects", map[string]any{"w": nestedNot(10)}},
		}
		for _, a := range allowed {
			var out struct{ Users struct{ Edges []any } }
			admin.Do(t, users, a.vars).Decode(t, &out)
		}
	})
}

// TestUpdateProfileProbesAreThrottled checks that updateProfile, which
// answers CONFLICT for an email or username another account has, is no
// unthrottled account oracle: setting either costs a token of the
// client's RATE_LIMIT_AUTH bucket (30 a minute), so the 31st probe is
// TOO_MANY_REQUESTS, and it counts as a credential field, so aliases
// cannot put several probes in one request. Changing only names stays
// free.
func TestUpdateProfileProbesAreThrottled(t *testing.T) {
	const update = `mutation($in: UpdateProfileInput!) { updateProfile(input: $in) { id } }`
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		{
			srv := apptest.New(t, b, map[string]string{"TRUSTED_PROXIES": "127.0.0.0/8, ::1", "RATE_LIMIT_AUTH": "30", "EMAIL_VERIFICATION": "off"})
			setup := srv.Client()
			setup.Header.Set("X-Forwarded-For", "203.0.113.1")
			var taken []string
			for i := range 3 {
				email := apptest.UniqueEmail(fmt.Sprintf("victim%d", i))
				setup.SignUp(t, email, "correct horse")
				taken = append(taken, email)
			}
			prober := srv.Client()
			prober.Header.Set("X-Forwarded-For", "203.0.113.1")
			prober.SignUp(t, apptest.UniqueEmail("prober"), "correct horse")
			prober.Header.Set("X-Forwarded-For", "203.0.113.2") // a fresh bucket

			for i := range 35 {
				res := prober.Do(t, update, map[string]any{"in": map[string]any{"firstName": fmt.Sprintf("Name %d", i)}})
				if len(res.Errors) > 0 {
					t.Fatalf("name change %d: %s", i+1, res.Body)
				}
			}
			conflicts := 0
			for i := range 30 {
				in := map[string]any{"email": taken[i%len(taken)]}
				if i%2 == 1 {
					in = map[string]any{"username": fmt.Sprintf("probe_%d", i)}
				}
				res := prober.Do(t, update, map[string]any{"in": in})
				switch res.Code() {
				case "":
				case "CONFLICT":
					conflicts++
				default:
					t.Fatalf("probe %d within the limit: %s", i+1, res.Body)
				}
			}
			if conflicts != 15 {
				t.Fatalf("%d of 15 probes of registered addresses answered CONFLICT", conflicts)
			}
			res := prober.Do(t, update, map[string]any{"in": map[string]any{"email": taken[0]}})
			if res.Code() != "TOO_MANY_REQUESTS" || retryAfter(res) < 1 {
				t.Fatalf("31st probe within a minute: %s", res.Body)
			}

			fresh := srv.Client()
			fresh.Token = prober.Token
			fresh.Header.Set("X-Forwarded-For", "203.0.113.3")
			for name, doc := range map[string]string{
				"two aliased updateProfile":   `mutation { a: updateProfile(input: {email: "` + taken[0] + `"}) { id } b: updateProfile(input: {email: "` + taken[1] + `"}) { id } }`,
				"aliases that set names only": `mutation { a: updateProfile(input: {firstName: "A"}) { id } b: updateProfile(input: {lastName: "B"}) { id } }`,
				"updateProfile beside signIn": `mutation { updateProfile(input: {email: "` + taken[0] + `"}) { id } signIn(input: {email: "` + taken[1] + `", password: "guess"}) { accessToken } }`,
			} {
				if res := fresh.Do(t, doc, nil); res.Code() != "TOO_MANY_CREDENTIAL_FIELDS" {
					t.Fatalf("%s: want TOO_MANY_CREDENTIAL_FIELDS, got %s", name, res.Body)
				}
			}
		}
	})
}
