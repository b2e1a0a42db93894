package database_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/session"
	"github.com/gqlauth/gqlauth/internal/token"
)

// sessionsMigration is the first migration file that keeps sessions in a
// table of their own, moving them out of the refresh tokens.
const sessionsMigration = "20261202072900"

// TestSessionsDataMigration builds a database at the revision before the
// sessions table, with refresh tokens of a live session, a logged-out one
// and an expired one, migrates it, and checks that each session became a
// row that says what its tokens said, and that the live one still
// refreshes while the ended one does not.
func TestSessionsDataMigration(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := database.Open(ctx, d.newDB(t), database.Settings{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			all, _ := database.MigrationDir(d.dialect)
			files, _ := all.Files()
			before := &atlasmigrate.MemDir{}
			var earlier []atlasmigrate.File
			for _, f := range files {
				if f.Version() < sessionsMigration {
					earlier = append(earlier, f)
				}
			}
			if len(earlier) == 0 || len(earlier) == len(files) {
				t.Fatalf("no file before %s among %d", sessionsMigration, len(files))
			}
			if err := before.CopyFiles(earlier); err != nil {
				t.Fatal(err)
			}
			sum, err := before.Checksum()
			if err != nil {
				t.Fatal(err)
			}
			if err := atlasmigrate.WriteSumFile(before, sum); err != nil {
				t.Fatal(err)
			}
			if _, err := db.MigrateDir(ctx, before); err != nil {
				t.Fatalf("migrate to the revision before sessions: %v", err)
			}

			exec := func(q string, args ...any) {
				t.Helper()
				if d.dialect == dialect.Postgres {
					n := 0
					q = replaceEach(q, "?", func() string { n++; return fmt.Sprintf("$%d", n) })
				}
				if _, err := db.SQL.ExecContext(ctx, q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			now := time.Now().UTC().Truncate(time.Millisecond)
			userID := uuid.Must(uuid.NewV7())
			exec(`INSERT INTO users (id, created_at, updated_at, email, password_hash, role) VALUES (?, ?, ?, ?, ?, 'USER')`,
				userID, now.Add(-48*time.Hour), now.Add(-48*time.Hour), "migrated@example.com", "x")
			insert := func(sid uuid.UUID, started, created, expires time.Time, lastUsed, revoked *time.Time, reason *string, ua string) string {
				raw, hash := token.NewRefreshToken()
				exec(`INSERT INTO refresh_tokens (id, user_id, token_hash, session_id, created_at, expires_at, session_started_at, last_used_at, revoked_at, revoked_reason, user_agent, ip)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '192.0.2.1')`,
					uuid.Must(uuid.NewV7()), userID, hash, sid, created, expires, started, lastUsed, revoked, reason, ua)
				return raw
			}
			at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
			str := func(s string) *string { return &s }

			// Live: signed in 3h ago, rotated 1h ago.
			live, t0, t1 := uuid.Must(uuid.NewV7()), now.Add(-3*time.Hour), now.Add(-time.Hour)
			insert(live, t0, t0, t0.Add(7*24*time.Hour), &t1, &t1, str(session.ReasonRotated), "first agent")
			liveToken := insert(live, t0, t1, t1.Add(7*24*time.Hour), nil, nil, nil, "second agent")
			// Logged out 30 minutes ago, after one rotation.
			out := uuid.Must(uuid.NewV7())
			insert(out, t0, t0, t0.Add(7*24*time.Hour), at(-2*time.Hour), at(-2*time.Hour), str(session.ReasonRotated), "out agent")
			outToken := insert(out, t0, now.Add(-2*time.Hour), now.Add(5*24*time.Hour), nil, at(-30*time.Minute), str(session.ReasonLogout), "out agent 2")
			// Expired, never revoked.
			expired, old := uuid.Must(uuid.NewV7()), now.Add(-40*time.Hour)
			insert(expired, old, old, old.Add(time.Hour), nil, nil, nil, "expired agent")

			applied, err := db.Migrate(ctx)
			if err != nil {
				t.Fatalf("migrate the populated database: %v", err)
			}
			if len(applied) == 0 || applied[0][:len(sessionsMigration)] != sessionsMigration {
				t.Fatalf("applied %v, want %s first", applied, sessionsMigration)
			}

			if n := db.RefreshToken.Query().CountX(ctx); n != 5 {
				t.Fatalf("%d refresh tokens after the migration, want the 5 there were", n)
			}
			sessions := db.Session.Query().AllX(ctx)
			if len(sessions) != 3 {
				t.Fatalf("%d sessions, want 3", len(sessions))
			}
			for _, s := range sessions {
				if s.UserID != userID {
					t.Fatalf("session %v belongs to %v, want %v", s.ID, s.UserID, userID)
				}
				switch s.ID {
				case live:
					if !s.CreatedAt.Equal(t0) || !s.LastSeenAt.Equal(t1) || s.RevokedAt != nil ||
						s.UserAgent == nil || *s.UserAgent != "first agent" || s.IP == nil || *s.IP != "192.0.2.1" {
						t.Fatalf("live session migrated as %+v", s)
					}
				case out:
					if s.RevokedAt == nil || !s.RevokedAt.Equal(now.Add(-30*time.Minute)) || s.RevokedReason == nil || *s.RevokedReason != session.ReasonLogout {
						t.Fatalf("logged-out session migrated as %+v", s)
					}
				case expired:
					if s.RevokedAt != nil || !s.CreatedAt.Equal(old) {
						t.Fatalf("expired session migrated as %+v", s)
					}
				default:
					t.Fatalf("unexpected session %v", s.ID)
				}
			}

			// The service takes over: the live session refreshes, the
			// logged-out one does not.
			keys, err := token.NewKeySet(ctx, token.StaticKeys{token.LegacyKey(strings.Repeat("k", 32))}, nil)
			if err != nil {
				t.Fatal(err)
			}
			issuer := token.NewIssuer(keys, token.IssuerSettings{Issuer: "gqlauth", Audience: "gqlauth", TTL: time.Minute})
			svc := session.New(session.Deps{DB: db.Client, Tokens: issuer, Deny: token.NewMemoryDenyList(time.Minute),
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
				session.Settings{RefreshTokenTTL: time.Hour, MaxLifetime: 30 * 24 * time.Hour, IdleTimeout: 7 * 24 * time.Hour})
			got, err := svc.Refresh(ctx, session.Presented{Token: liveToken})
			if err != nil || got.SessionID != live {
				t.Fatalf("refresh of the migrated live session: %v, %+v", err, got)
			}
			if _, err := svc.Refresh(ctx, session.Presented{Token: outToken}); apierr.CodeOf(err) != apierr.Unauthenticated {
				t.Fatalf("refresh of the migrated logged-out session: %v, want UNAUTHENTICATED", err)
			}
		})
	}
}

// replaceEach replaces every old in s by what next returns, in order.
func replaceEach(s, old string, next func() string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(next())
		s = s[i+len(old):]
	}
}
