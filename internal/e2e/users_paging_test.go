package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apptest"
)

// pagedUser is the part of a User the paging tests read.
type pagedUser struct {
	ID        string
	Email     *string
	Username  *string
	CreatedAt time.Time
}

// orderKey is a user's place in an ordering: users without a value come
// after all others (ascending), then by id.
func orderKey(u pagedUser, field string) (bool, string) {
	switch field {
	case "EMAIL":
		if u.Email == nil {
			return true, ""
		}
		return false, *u.Email
	case "USERNAME":
		if u.Username == nil {
			return true, ""
		}
		return false, *u.Username
	}
	return false, u.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000000")
}

// before reports whether a comes strictly before b in the ordering.
func before(a, b pagedUser, field, dir string) bool {
	an, av := orderKey(a, field)
	bn, bv := orderKey(b, field)
	var less bool
	switch {
	case an != bn:
		less = !an
	case av != bv:
		less = av < bv
	default:
		less = a.ID < b.ID
	}
	if a.ID == b.ID {
		return false
	}
	if dir == "DESC" {
		return !less
	}
	return less
}

const pageQuery = `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $order: UserOrder) {
  users(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id email username createdAt } }
  }
}`

type page struct {
	Users struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage, HasPreviousPage bool
			StartCursor, EndCursor       *string
		}
		Edges []struct {
			Cursor string
			Node   pagedUser
		}
	}
}

// walk pages through every user with pages of size n, forwards with
// first/after or backwards with last/before, and returns them in the
// requested order.
func walk(t *testing.T, c *apptest.Client, field, dir string, n int, backwards bool) []pagedUser {
	t.Helper()
	var out []pagedUser
	var cursor *string
	for i := 0; ; i++ {
		if i > 1000/n {
			t.Fatalf("%s %s: paging does not end", field, dir)
		}
		vars := map[string]any{"order": map[string]any{"field": field, "direction": dir}}
		if backwards {
			vars["last"], vars["before"] = n, cursor
		} else {
			vars["first"], vars["after"] = n, cursor
		}
		var p page
		c.Do(t, pageQuery, vars).Decode(t, &p)
		if len(p.Users.Edges) > n {
			t.Fatalf("page of %d edges, asked for %d", len(p.Users.Edges), n)
		}
		nodes := make([]pagedUser, len(p.Users.Edges))
		for j, e := range p.Users.Edges {
			nodes[j] = e.Node
		}
		if backwards {
			out = append(nodes, out...)
			if !p.Users.PageInfo.HasPreviousPage {
				return out
			}
			cursor = p.Users.PageInfo.StartCursor
		} else {
			out = append(out, nodes...)
			if !p.Users.PageInfo.HasNextPage {
				return out
			}
			cursor = p.Users.PageInfo.EndCursor
		}
		if cursor == nil {
			t.Fatalf("%s %s: more pages but no cursor", field, dir)
		}
	}
}

// seedUsers inserts n users straight into the database: some without an
// email, some without a username, with created_at ties in groups of 5.
func seedUsers(t *testing.T, srv *apptest.Server, n int) {
	t.Helper()
	words := []string{"alice", "bob", "carol", "dave", "erin"}
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var builders []*ent.UserCreate
	for i := 0; i < n; i++ {
		b := srv.DB.User.Create().
			SetPasswordHash("not a hash: these users never sign in").
			SetCreatedAt(base.Add(time.Duration(i/5) * time.Millisecond))
		noEmail := i%7 == 3
		if !noEmail {
			b.SetEmail(fmt.Sprintf("%s%03d@example.com", words[i%5], (i*37)%n))
		}
		if noEmail || i%5 != 1 {
			name := fmt.Sprintf("%s%03d", words[(i+2)%5], (i*53)%n)
			b.SetUsername(name).SetUsernameKey(name)
		}
		builders = append(builders, b)
	}
	for len(builders) > 0 {
		k := min(50, len(builders))
		if err := srv.DB.User.CreateBulk(builders[:k]...).Exec(context.Background()); err != nil {
			t.Fatalf("seed users: %v", err)
		}
		builders = builders[k:]
	}
}

// allUsers reads every user straight from the database.
func allUsers(t *testing.T, srv *apptest.Server) []pagedUser {
	t.Helper()
	us, err := srv.DB.User.Query().All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]pagedUser, len(us))
	for i, u := range us {
		out[i] = pagedUser{ID: u.ID.String(), Email: u.Email, Username: u.Username, CreatedAt: u.CreatedAt}
	}
	return out
}

// TestUsersPagination pages through 250 users with first: 20 in every
// ordering and direction, forwards and backwards, and checks that each
// user comes exactly once and in order: also users without an email or a
// username, which keyset cursors on a nullable column easily skip.
func TestUsersPagination(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		admin := newAdmin(t, srv, "admin")
		seedUsers(t, srv, 250)
		all := allUsers(t, srv)
		if len(all) != 251 {
			t.Fatalf("%d users, want 251", len(all))
		}
		for _, field := range []string{"CREATED_AT", "EMAIL", "USERNAME"} {
			for _, dir := range []string{"ASC", "DESC"} {
				want := append([]pagedUser(nil), all...)
				sort.Slice(want, func(i, j int) bool { return before(want[i], want[j], field, dir) })
				for _, backwards := range []bool{false, true} {
					got := walk(t, admin.Client, field, dir, 20, backwards)
					if len(got) != len(want) {
						t.Fatalf("%s %s backwards=%v: %d users, want %d", field, dir, backwards, len(got), len(want))
					}
					for i := range want {
						if got[i].ID != want[i].ID {
							t.Fatalf("%s %s backwards=%v: user %d is %+v, want %+v", field, dir, backwards, i, got[i], want[i])
						}
					}
				}
			}
		}

		// Limits: first and last default to 20 and are capped at 100.
		var p page
		admin.Do(t, pageQuery, nil).Decode(t, &p)
		if len(p.Users.Edges) != 20 || !p.Users.PageInfo.HasNextPage || p.Users.TotalCount != 251 {
			t.Fatalf("default page: %d edges, hasNextPage %v, totalCount %d", len(p.Users.Edges), p.Users.PageInfo.HasNextPage, p.Users.TotalCount)
		}
		admin.Do(t, pageQuery, map[string]any{"first": 100}).Decode(t, &p)
		if len(p.Users.Edges) != 100 {
			t.Fatalf("first: 100 gave %d edges", len(p.Users.Edges))
		}
		for _, vars := range []map[string]any{{"first": 101}, {"last": 101}, {"first": -1}, {"first": 5, "last": 5}} {
			wantCode(t, admin.Do(t, pageQuery, vars), "BAD_USER_INPUT")
		}
		// A cursor of one ordering is refused by another.
		admin.Do(t, pageQuery, map[string]any{"first": 2, "order": map[string]any{"field": "CREATED_AT"}}).Decode(t, &p)
		wantCode(t, admin.Do(t, pageQuery, map[string]any{"first": 2, "after": p.Users.PageInfo.EndCursor,
			"order": map[string]any{"field": "EMAIL"}}), "BAD_USER_INPUT")
		wantCode(t, admin.Do(t, pageQuery, map[string]any{"first": 2, "after": "bm90IGEgY3Vyc29y"}), "BAD_USER_INPUT")
		// A later page of a nullable ordering still counts every user.
		admin.Do(t, pageQuery, map[string]any{"first": 20, "order": map[string]any{"field": "EMAIL"}}).Decode(t, &p)
		admin.Do(t, pageQuery, map[string]any{"first": 20, "after": p.Users.PageInfo.EndCursor,
			"order": map[string]any{"field": "EMAIL"}}).Decode(t, &p)
		if p.Users.TotalCount != 251 || !p.Users.PageInfo.HasPreviousPage {
			t.Fatalf("second EMAIL page: totalCount %d, hasPreviousPage %v", p.Users.TotalCount, p.Users.PageInfo.HasPreviousPage)
		}
	})
}

// boundaryQuery asks for pageInfo without totalCount, with or without edges.
func boundaryQuery(edges bool) string {
	sel := ""
	if edges {
		sel = "edges { cursor node { id } }"
	}
	return `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $order: UserOrder) {
  users(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } ` + sel + `
  }
}`
}

// TestUsersPageBoundaries checks hasNextPage and hasPreviousPage, which
// come from the page's extra row rather than a count, at the edges of the
// result: exactly first (or last) users, one more, paging backwards, pages
// asked for pageInfo alone and for first: 0; in an ordering of ent's
// Paginate (CREATED_AT) and of a nullable column (EMAIL). Before
// ent/template/pagination.tmpl, pageInfo without edges said hasNextPage
// whenever any user existed.
func TestUsersPageBoundaries(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		admin := newAdmin(t, srv, "admin")
		seedUsers(t, srv, 19) // 20 users with the admin
		type info = struct {
			HasNextPage, HasPreviousPage bool
			StartCursor, EndCursor       *string
		}
		get := func(edges bool, vars map[string]any) (int, info) {
			t.Helper()
			var p page
			admin.Do(t, boundaryQuery(edges), vars).Decode(t, &p)
			if edges != (p.Users.Edges != nil) {
				t.Fatalf("%v: edges %v", vars, p.Users.Edges)
			}
			return len(p.Users.Edges), p.Users.PageInfo
		}
		check := func(edges bool, vars map[string]any, wantEdges int, wantNext, wantPrev bool) info {
			t.Helper()
			n, pi := get(edges, vars)
			if n != wantEdges || pi.HasNextPage != wantNext || pi.HasPreviousPage != wantPrev {
				t.Fatalf("%v (edges %v): %d edges, hasNextPage %v, hasPreviousPage %v; want %d, %v, %v",
					vars, edges, n, pi.HasNextPage, pi.HasPreviousPage, wantEdges, wantNext, wantPrev)
			}
			if (wantEdges > 0 || !edges && (wantNext || wantPrev)) && (pi.StartCursor == nil || pi.EndCursor == nil) {
				t.Fatalf("%v (edges %v): no cursors: %+v", vars, edges, pi)
			}
			return pi
		}
		orders := []map[string]any{{"field": "CREATED_AT"}, {"field": "EMAIL", "direction": "DESC"}}
		for _, o := range orders {
			// Exactly 20: one page, forwards and backwards, with or without edges.
			for _, edges := range []bool{true, false} {
				n := 0
				if edges {
					n = 20
				}
				check(edges, map[string]any{"order": o, "first": 20}, n, false, false)
				check(edges, map[string]any{"order": o, "last": 20}, n, false, false)
			}
			check(false, map[string]any{"order": o, "first": 19}, 0, true, false)
			check(false, map[string]any{"order": o, "last": 19}, 0, false, true)
			check(true, map[string]any{"order": o, "first": 0}, 0, true, false)
			check(true, map[string]any{"order": o, "last": 0}, 0, false, true)
			check(true, map[string]any{"order": o, "first": 21}, 20, false, false)
		}

		// 21 users: a second page of one, forwards and backwards.
		if _, err := srv.DB.User.Create().SetPasswordHash("not a hash").SetEmail("extra@example.com").
			Save(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, o := range orders {
			for _, edges := range []bool{true, false} {
				n := 0
				if edges {
					n = 20
				}
				pi := check(edges, map[string]any{"order": o, "first": 20}, n, true, false)
				m := 0
				if edges {
					m = 1
				}
				check(edges, map[string]any{"order": o, "first": 20, "after": pi.EndCursor}, m, false, true)
				pi = check(edges, map[string]any{"order": o, "last": 20}, n, false, true)
				check(edges, map[string]any{"order": o, "last": 20, "before": pi.StartCursor}, m, true, false)
			}
		}
	})
}

// TestUsersPaginationWhileAdding pages through the users while others
// sign up: every user present at the start is visited exactly once, and
// the pages stay in order.
func TestUsersPaginationWhileAdding(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		admin := newAdmin(t, srv, "admin")
		seedUsers(t, srv, 250)
		initial := allUsers(t, srv)

		stop := make(chan struct{})
		var added atomic.Int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := srv.Client()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				res := c.Do(t, `mutation($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
					map[string]any{"in": map[string]any{
						"email":    fmt.Sprintf("%s%03d-new@example.com", []string{"alice", "bob", "carol", "dave", "erin"}[i%5], i),
						"username": fmt.Sprintf("new%05d", i),
						"password": userPassword,
					}})
				if len(res.Errors) > 0 {
					t.Errorf("sign-up during paging: %s", res.Body)
					return
				}
				added.Add(1)
			}
		}()
		for _, o := range [][2]string{{"CREATED_AT", "ASC"}, {"EMAIL", "ASC"}, {"USERNAME", "DESC"}, {"EMAIL", "DESC"}} {
			got := walk(t, admin.Client, o[0], o[1], 20, false)
			seen := map[string]int{}
			for i, u := range got {
				seen[u.ID]++
				if i > 0 && !before(got[i-1], u, o[0], o[1]) {
					t.Fatalf("%s %s: %+v comes after %+v", o[0], o[1], u, got[i-1])
				}
			}
			for _, u := range initial {
				if seen[u.ID] != 1 {
					t.Fatalf("%s %s: user %s visited %d times", o[0], o[1], u.ID, seen[u.ID])
				}
			}
		}
		close(stop)
		wg.Wait()
		if added.Load() == 0 {
			t.Fatal("no user was added while paging")
		}
		t.Logf("%d users signed up while paging", added.Load())
	})
}

// sqlCounter counts the SQL statements ent sends, through ent.Debug's log
// (its builders' and those written by hand, ExecContext and QueryContext).
type sqlCounter struct {
	n   atomic.Int64
	mu  sync.Mutex
	log []string
}

func (c *sqlCounter) record(args ...any) {
	s := fmt.Sprint(args...)
	if strings.Contains(s, ".Query:") || strings.Contains(s, ".Exec:") || strings.Contains(s, ".QueryContext:") || strings.Contains(s, ".ExecContext:") {
		c.n.Add(1)
		c.mu.Lock()
		c.log = append(c.log, s)
		c.mu.Unlock()
	}
}

// during returns how many statements fn caused, and which.
func (c *sqlCounter) during(fn func()) (int, []string) {
	c.mu.Lock()
	c.log = nil
	c.mu.Unlock()
	before := c.n.Load()
	fn()
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.n.Load() - before), append([]string(nil), c.log...)
}

// TestUsersQueryCount bounds the SQL statements of a users page of 50
// with every field: no statement per user (no N+1), and no COUNT over the
// table unless totalCount is selected (pageInfo comes from the page's
// extra row: ent/template/pagination.tmpl). Before that template, a page
// with pageInfo and without totalCount ran a COUNT(*).
func TestUsersQueryCount(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		counter := &sqlCounter{}
		srv := apptest.Start(t, apptest.Config(t, b, nil), ent.Debug(), ent.Log(counter.record))
		admin := newAdmin(t, srv, "admin")
		seedUsers(t, srv, 120)
		const selection = `
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id createdAt updatedAt email username firstName lastName age role } }
  }
}`
		const withTotal = `query($after: Cursor, $order: UserOrder) {
  users(first: 50, after: $after, orderBy: $order) {
    totalCount` + selection
		const withoutTotal = `query($after: Cursor, $order: UserOrder) {
  users(first: 50, after: $after, orderBy: $order) {` + selection
		for _, tc := range []struct {
			name   string
			query  string
			order  map[string]any
			max    int
			counts int // COUNT statements on the second page
		}{
			// the admin's role, whether the AAL1 session owes a step-up
			// (graph/assurance.go), the count, the page
			{"default", withTotal, nil, 4, 1},
			{"CREATED_AT", withTotal, map[string]any{"field": "CREATED_AT", "direction": "DESC"}, 4, 1},
			// after a cursor, an EMAIL page counts all users once more
			{"EMAIL", withTotal, map[string]any{"field": "EMAIL"}, 5, 2},
			// without totalCount: the role, the step-up, the page
			{"default without totalCount", withoutTotal, nil, 3, 0},
			{"CREATED_AT without totalCount", withoutTotal, map[string]any{"field": "CREATED_AT", "direction": "DESC"}, 3, 0},
			{"EMAIL without totalCount", withoutTotal, map[string]any{"field": "EMAIL"}, 3, 0},
		} {
			var p page
			var cursor *string
			for pageNo := 1; pageNo <= 2; pageNo++ {
				n, stmts := counter.during(func() {
					admin.Do(t, tc.query, map[string]any{"after": cursor, "order": tc.order}).Decode(t, &p)
				})
				if len(p.Users.Edges) != 50 || !p.Users.PageInfo.HasNextPage || p.Users.PageInfo.HasPreviousPage != (pageNo > 1) {
					t.Fatalf("%s page %d: %d edges, pageInfo %+v", tc.name, pageNo, len(p.Users.Edges), p.Users.PageInfo)
				}
				t.Logf("%s page %d of 50 users: %d SQL statements", tc.name, pageNo, n)
				if n > tc.max || n == 0 {
					t.Fatalf("%s page %d: %d SQL statements, want 1..%d:\n%s", tc.name, pageNo, n, tc.max, strings.Join(stmts, "\n"))
				}
				counts := 0
				for _, s := range stmts {
					if strings.Contains(strings.ToUpper(s), "COUNT(") {
						counts++
					}
				}
				if pageNo == 2 && counts != tc.counts || counts > tc.counts {
					t.Fatalf("%s page %d: %d COUNT statements, want %d:\n%s", tc.name, pageNo, counts, tc.counts, strings.Join(stmts, "\n"))
				}
				cursor = p.Users.PageInfo.EndCursor
			}
		}
	})
}
