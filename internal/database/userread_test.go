package database_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/database"
)

// TestReadUser: the fast read of `me` returns the same public fields as
// ent's Get, null columns as nil, never the password hash, and ent's
// NotFoundError for a missing id; and it reads the row as committed now.
func TestReadUser(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			db := migrated(t, d.newDB(t), database.Settings{StatementTimeout: 5 * time.Second})
			full, err := db.User.Create().SetEmail("full@example.com").SetUsername("Full").SetUsernameKey("full").
				SetPasswordHash("$2a$04$secret").SetFirstName("Ada").SetLastName("Lovelace").SetAge(36).
				SetRole(user.RoleADMIN).SetEmailVerifiedAt(time.Now()).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			bare, err := db.User.Create().SetEmail("bare@example.com").SetPasswordHash("$2a$04$secret").Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			public := func(u *ent.User) map[string]any {
				return map[string]any{"id": u.ID, "created": u.CreatedAt.UTC(), "updated": u.UpdatedAt.UTC(),
					"email": u.Email, "verified": timeUTC(u.EmailVerifiedAt), "username": u.Username,
					"first": u.FirstName, "last": u.LastName, "age": u.Age, "role": u.Role}
			}
			for _, want := range []*ent.User{full, bare} {
				viaEnt, err := db.User.Get(ctx, want.ID)
				if err != nil {
					t.Fatal(err)
				}
				got, err := db.ReadUser(ctx, want.ID, nil)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(public(viaEnt), public(got)); diff != "" {
					t.Errorf("ReadUser differs from ent's Get (-ent +ReadUser):\n%s", diff)
				}
				if got.PasswordHash != "" || got.UsernameKey != nil {
					t.Errorf("ReadUser read columns no GraphQL field shows: hash %q, username key %v", got.PasswordHash, got.UsernameKey)
				}
			}

			// Another connection commits a change: the next read has it.
			update := `UPDATE users SET first_name = ?, age = NULL WHERE id = ?`
			if d.dialect == dialect.Postgres {
				update = `UPDATE users SET first_name = $1, age = NULL WHERE id = $2`
			}
			if _, err := db.SQL.ExecContext(ctx, update, "Grace", full.ID); err != nil {
				t.Fatal(err)
			}
			got, err := db.ReadUser(ctx, full.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.FirstName == nil || *got.FirstName != "Grace" || got.Age != nil {
				t.Errorf("after an UPDATE: first name %v, age %v; want Grace, nil", got.FirstName, got.Age)
			}

			for _, cols := range [][]string{nil, {}, {user.FieldEmail}} {
				if _, err := db.ReadUser(ctx, uuid.New(), cols); !ent.IsNotFound(err) {
					t.Errorf("a missing user, columns %q: %v, want ent's NotFoundError", cols, err)
				}
			}

			// Only the columns asked for are read; nil, or a name that is
			// not a shown column, reads them all.
			stored, err := db.User.Get(ctx, full.ID)
			if err != nil {
				t.Fatal(err)
			}
			all := public(stored)
			for _, tc := range []struct {
				columns []string
				keys    []string
			}{
				{[]string{}, []string{"id"}},
				{[]string{user.FieldEmail, user.FieldRole}, []string{"id", "email", "role"}},
				{[]string{user.FieldEmailVerifiedAt, user.FieldFirstName, user.FieldAge}, []string{"id", "verified", "first", "age"}},
				{[]string{user.FieldCreatedAt, user.FieldUpdatedAt, user.FieldUsername, user.FieldLastName}, []string{"id", "created", "updated", "username", "last"}},
				{[]string{user.FieldEmail, user.FieldPasswordHash}, nil},
				{nil, nil},
			} {
				got, err := db.ReadUser(ctx, full.ID, tc.columns)
				if err != nil {
					t.Fatalf("columns %q: %v", tc.columns, err)
				}
				want := all
				if tc.keys != nil {
					want = public(&ent.User{})
					for _, k := range tc.keys {
						want[k] = all[k]
					}
				}
				if diff := cmp.Diff(want, public(got)); diff != "" {
					t.Errorf("columns %q (-want +got):\n%s", tc.columns, diff)
				}
				if got.PasswordHash != "" {
					t.Errorf("columns %q: the password hash was read", tc.columns)
				}
			}
		})
	}
}

// migrated opens the database at url with set, brings its schema up to
// date and closes it when the test ends.
func migrated(t *testing.T, url string, set database.Settings) *database.DB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, url, set)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

func timeUTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// TestReadUserInBatches: reads that come while PostgreSQL is busy wait
// and go as one statement; each caller gets its own user, with the
// columns it asked for, duplicates and a missing id included; and a
// change committed before a read is asked shows in it.
func TestReadUserInBatches(t *testing.T) {
	ctx := context.Background()
	db := migrated(t, apptest.NewPostgresDB(t), database.Settings{StatementTimeout: 5 * time.Second})
	var users []*ent.User
	for i := range 6 {
		u, err := db.User.Create().SetEmail(fmt.Sprintf("batch%d@example.com", i)).SetPasswordHash("$2a$04$secret").
			SetFirstName(fmt.Sprintf("First%d", i)).SetAge(20 + i).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	// A row ent would refuse (a role it does not know) fails its own
	// read, not the batch's.
	bogus, err := db.User.Create().SetEmail("bogus@example.com").SetPasswordHash("$2a$04$secret").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL.ExecContext(ctx, `UPDATE users SET role = 'BOGUS' WHERE id = $1`, bogus.ID); err != nil {
		t.Fatal(err)
	}
	statements, keys := database.CountUserFetches(db, 1)

	// Hold the table so that the first read waits in PostgreSQL, with
	// the one slot, while the others gather.
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `LOCK TABLE users IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	type read struct {
		id      uuid.UUID
		columns []string
		user    *ent.User
		err     error
	}
	reads := []*read{{id: users[5].ID, columns: []string{user.FieldEmail}}}
	for i, u := range users {
		reads = append(reads, &read{id: u.ID, columns: []string{user.FieldFirstName}},
			&read{id: u.ID, columns: [][]string{{user.FieldAge}, nil, {}}[i%3]})
	}
	missing := &read{id: uuid.New(), columns: []string{user.FieldEmail}}
	badRole := &read{id: bogus.ID, columns: []string{user.FieldRole}}
	reads = append(reads, missing, badRole)
	var wg sync.WaitGroup
	for i, r := range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.user, r.err = db.ReadUser(ctx, r.id, r.columns)
		}()
		if i == 0 {
			time.Sleep(100 * time.Millisecond) // the first one takes the slot
		}
	}
	time.Sleep(200 * time.Millisecond)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	if s, k := statements.Load(), keys.Load(); s != 2 || k != int64(len(reads)) {
		t.Errorf("%d statements answered %d keys; want 2 (one alone, one batch) for %d", s, k, len(reads))
	}
	for _, r := range reads {
		if r == missing {
			if !ent.IsNotFound(r.err) {
				t.Errorf("missing id: %v, want ent's NotFoundError", r.err)
			}
			continue
		}
		if r == badRole {
			if r.err == nil {
				t.Errorf("a role ent does not know was read: %+v", r.user)
			}
			continue
		}
		if r.err != nil || r.user.ID != r.id {
			t.Fatalf("read %v: %+v, %v", r.id, r.user, r.err)
		}
		want, err := db.User.Get(ctx, r.id)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range r.columns {
			var got, exp any
			switch c {
			case user.FieldEmail:
				got, exp = r.user.Email, want.Email
			case user.FieldFirstName:
				got, exp = r.user.FirstName, want.FirstName
			case user.FieldAge:
				got, exp = r.user.Age, want.Age
			}
			if diff := cmp.Diff(exp, got); diff != "" {
				t.Errorf("user %v column %s (-stored +read):\n%s", r.id, c, diff)
			}
		}
	}
	// A change committed before a read is asked is in it.
	if _, err := db.SQL.ExecContext(ctx, `UPDATE users SET first_name = 'Later' WHERE id = $1`, users[1].ID); err != nil {
		t.Fatal(err)
	}
	if u, err := db.ReadUser(ctx, users[1].ID, []string{user.FieldFirstName}); err != nil || u.FirstName == nil || *u.FirstName != "Later" {
		t.Errorf("read after a commit: %+v, %v", u, err)
	}
	// The batch's callers each hold their own user.
	if reads[1].user == reads[2].user {
		t.Error("two callers got the same *ent.User")
	}
}
