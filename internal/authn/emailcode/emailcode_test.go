package emailcode_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/authn/emailcode"
	"github.com/gqlauth/gqlauth/internal/database"
)

// setup opens a migrated database of b's kind with one user.
func setup(t *testing.T, b apptest.Backend) (*database.DB, *ent.User) {
	t.Helper()
	url := apptest.NewSQLiteDB(t)
	if b.Postgres {
		url = apptest.NewPostgresDB(t)
	}
	ctx := context.Background()
	db, err := database.Open(ctx, url, database.Settings{StatementTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u := db.User.Create().SetEmail("a@example.com").SetPasswordHash("x").SaveX(ctx)
	return db, u
}

func issue(t *testing.T, db *database.DB, s *emailcode.Store, u *ent.User, kind emailcode.Kind) emailcode.Issued {
	t.Helper()
	var is emailcode.Issued
	err := database.WithTx(context.Background(), db.Client, func(tx *ent.Tx) error {
		var err error
		is, err = s.Issue(context.Background(), tx, u.ID, kind, *u.Email, time.Hour)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// TestRedeemOnceUnderRace: of 16 concurrent redeems of one token, exactly
// one runs its function; the others get the one "wrong or expired" answer.
func TestRedeemOnceUnderRace(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		db, u := setup(t, b)
		s := emailcode.New(db.Client, nil)
		is := issue(t, db, s, u, emailcode.PasswordReset)
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			ran, bad int
		)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.Redeem(context.Background(), emailcode.Proof{Kind: emailcode.PasswordReset, Token: is.Token},
					func(*ent.Tx, *ent.EmailToken) error { mu.Lock(); ran++; mu.Unlock(); return nil })
				if apierr.CodeOf(err) == apierr.BadUserInput {
					mu.Lock()
					bad++
					mu.Unlock()
				} else if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ran != 1 || bad != 15 {
			t.Fatalf("ran %d times, refused %d; want 1 and 15", ran, bad)
		}
	})
}

// TestRedeemRules: the kind must match; a failing function leaves the
// request unspent; a newer request and Void void it; wrong codes count.
func TestRedeemRules(t *testing.T) {
	db, u := setup(t, apptest.Backends[0])
	ctx := context.Background()
	s := emailcode.New(db.Client, nil)
	ok := func(*ent.Tx, *ent.EmailToken) error { return nil }
	is := issue(t, db, s, u, emailcode.VerifyEmail)
	if err := s.Redeem(ctx, emailcode.Proof{Kind: emailcode.PasswordReset, Token: is.Token}, ok); apierr.CodeOf(err) != apierr.BadUserInput {
		t.Fatalf("a verification token spent as a reset: %v", err)
	}
	failing := apierr.New(apierr.Conflict, "no")
	if err := s.Redeem(ctx, emailcode.Proof{Kind: emailcode.VerifyEmail, Email: "a@example.com", Code: is.Code},
		func(*ent.Tx, *ent.EmailToken) error { return failing }); err != failing {
		t.Fatalf("the function's error: %v", err)
	}
	if err := s.Redeem(ctx, emailcode.Proof{Kind: emailcode.VerifyEmail, Token: is.Token}, ok); err != nil {
		t.Fatalf("unspent after a failing function: %v", err)
	}

	older := issue(t, db, s, u, emailcode.PasswordReset)
	newer := issue(t, db, s, u, emailcode.PasswordReset)
	if err := s.Redeem(ctx, emailcode.Proof{Kind: emailcode.PasswordReset, Token: older.Token}, ok); apierr.CodeOf(err) != apierr.BadUserInput {
		t.Fatalf("an older request still works: %v", err)
	}
	err := database.WithTx(ctx, db.Client, func(tx *ent.Tx) error { return s.Void(ctx, tx, u.ID) })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Redeem(ctx, emailcode.Proof{Kind: emailcode.PasswordReset, Token: newer.Token}, ok); apierr.CodeOf(err) != apierr.BadUserInput {
		t.Fatalf("a voided request still works: %v", err)
	}

	is = issue(t, db, s, u, emailcode.EmailChange)
	wrong := "000000"
	if is.Code == wrong {
		wrong = "999999"
	}
	for i := range emailcode.MaxFailedCodes - 1 {
		if err := s.Redeem(ctx, emailcode.Proof{Kind: emailcode.EmailChange, UserID: u.ID, Code: wrong}, ok); apierr.CodeOf(err) != apierr.BadUserInput {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	// Four wrong codes leave the request alive; the fifth voids it.
	if err := s.Redeem(ctx, emailcode.Proof{Kind: emailcode.EmailChange, UserID: u.ID, Code: is.Code}, ok); err != nil {
		t.Fatalf("the right code after four wrong ones: %v", err)
	}
}
