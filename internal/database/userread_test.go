package database_test

import (
	"context"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/database"
)

// TestReadUser: the fast read of `me` returns the same public fields as
// ent's Get, null columns as nil, never the password hash, and ent's
// NotFoundError for a missing id; and it reads the row as committed now.
func TestReadUser(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := database.Open(ctx, d.newDB(t), database.Settings{StatementTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
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
				got, err := db.ReadUser(ctx, want.ID)
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
			got, err := db.ReadUser(ctx, full.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.FirstName == nil || *got.FirstName != "Grace" || got.Age != nil {
				t.Errorf("after an UPDATE: first name %v, age %v; want Grace, nil", got.FirstName, got.Age)
			}

			if _, err := db.ReadUser(ctx, uuid.New()); !ent.IsNotFound(err) {
				t.Errorf("a missing user: %v, want ent's NotFoundError", err)
			}
		})
	}
}

func timeUTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
