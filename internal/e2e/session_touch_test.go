package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// TestRefreshTouchesSessionInPlace checks, on PostgreSQL, that refreshes
// within session.MaxLastSeenLag of one another rewrite no indexed column
// of the session row: PostgreSQL then counts each of their session
// UPDATEs as heap-only (HOT), adding no index entries. Before, every
// refresh moved last_seen_at, which an index holds, and none was HOT.
func TestRefreshTouchesSessionInPlace(t *testing.T) {
	srv := apptest.New(t, apptest.Backend{Name: "postgres+memory", Postgres: true}, nil)
	c := srv.Client()
	rt := *c.SignUp(t, apptest.UniqueEmail("hot"), password).RefreshToken

	// The table's counters, as the backends flush them (at most a second
	// after their transactions end).
	counts := func() (upd, hot int64) {
		t.Helper()
		err := srv.DB.SQL.QueryRowContext(context.Background(),
			`SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'sessions'`).Scan(&upd, &hot)
		if err != nil {
			t.Fatalf("read the sessions table's counters: %v", err)
		}
		return upd, hot
	}
	settled := func(want func(upd, hot int64) bool) (upd, hot int64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			upd, hot = counts()
			if want(upd, hot) || time.Now().After(deadline) {
				return upd, hot
			}
		}
	}
	time.Sleep(1500 * time.Millisecond) // the sign-up's counts, flushed
	upd0, hot0 := counts()

	const refreshes = 5
	for range refreshes {
		p := mustRefresh(t, c, rt)
		if p.RefreshToken == nil {
			t.Fatal("refresh refused")
		}
		rt = *p.RefreshToken
	}
	upd, hot := settled(func(upd, _ int64) bool { return upd-upd0 >= refreshes })
	if upd-upd0 < refreshes {
		t.Fatalf("the sessions table counts %d updates after %d refreshes", upd-upd0, refreshes)
	}
	if hot-hot0 != upd-upd0 {
		t.Fatalf("%d of the %d session updates were heap-only (HOT); a refresh rewrote an indexed column", hot-hot0, upd-upd0)
	}
}
