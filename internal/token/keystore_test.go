package token_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/datakey"
	"github.com/gqlauth/gqlauth/internal/token"
)

// openKeyDB opens a new, migrated database of backend b.
func openKeyDB(t *testing.T, b apptest.Backend) *database.DB {
	t.Helper()
	url := apptest.NewSQLiteDB(t)
	if b.Postgres {
		url = apptest.NewPostgresDB(t)
	}
	db, err := database.Open(context.Background(), url, database.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

const retire = 15*time.Minute + token.Leeway

// newStore is a key store on db with its own clock, sealing under key.
func newStore(db *database.DB, key *datakey.Key) (*token.KeyStore, *fakeClock) {
	s := token.NewKeyStore(db.Client, key.Box("gqlauth signing keys v1"), retire)
	clock := &fakeClock{t: time.Now()}
	token.SetStoreNow(s, clock.now)
	return s, clock
}

func states(t *testing.T, s *token.KeyStore) map[string]token.State {
	t.Helper()
	keys, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]token.State{}
	for _, k := range keys {
		out[k.ID] = k.State
	}
	return out
}

func wantCode(t *testing.T, err error, code apierr.Code, says string) {
	t.Helper()
	var e *apierr.Error
	if !errors.As(err, &e) || e.Code != code || !strings.Contains(e.Message, says) {
		t.Fatalf("error %v, want %s saying %q", err, code, says)
	}
}

// TestKeyLifecycle walks a key through every state and checks each
// refusal: standby is published but must wait JWKS_MAX_AGE before it
// signs (unless forced), rotation makes the current key previous, the
// current key cannot be revoked or deleted, a revoked key can be
// restored, a previous key past its retirement counts as revoked and is
// recorded so, and deletion is only for standby and revoked keys.
func TestKeyLifecycle(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		ctx := context.Background()
		s, clock := newStore(openKeyDB(t, b), datakey.Generate())
		res, err := s.Bootstrap(ctx, "")
		if err != nil || res.Created == nil || res.Created.Alg != token.ES256 || res.Created.State != token.Current {
			t.Fatalf("bootstrap of an empty database: %+v, %v", res, err)
		}
		first := res.Created.ID
		if res, err := s.Bootstrap(ctx, ""); err != nil || res.Created != nil {
			t.Fatalf("second bootstrap: %+v, %v", res, err)
		}

		// Rotation with no standby key makes one, and stops there.
		const maxAge = 10 * time.Minute
		rot, err := s.Rotate(ctx, token.RotateOptions{MinPublished: maxAge, Alg: token.EdDSA})
		if !errors.Is(err, token.ErrTooSoon) || rot.Created == nil || rot.Created.Alg != token.EdDSA || rot.Current != nil {
			t.Fatalf("rotate without standby: %+v, %v", rot, err)
		}
		second := rot.Created.ID
		if got := states(t, s); got[first] != token.Current || got[second] != token.Standby {
			t.Fatalf("states after a refused rotation: %v", got)
		}
		clock.advance(maxAge - time.Second)
		if _, err := s.Rotate(ctx, token.RotateOptions{MinPublished: maxAge}); !errors.Is(err, token.ErrTooSoon) {
			t.Fatalf("rotate a second before JWKS_MAX_AGE: %v", err)
		}
		clock.advance(time.Second)
		rot, err = s.Rotate(ctx, token.RotateOptions{MinPublished: maxAge})
		if err != nil || rot.Current.ID != second || rot.Previous.ID != first || rot.Created != nil {
			t.Fatalf("rotate after JWKS_MAX_AGE: %+v, %v", rot, err)
		}
		if got := states(t, s); got[first] != token.Previous || got[second] != token.Current {
			t.Fatalf("states after rotation: %v", got)
		}

		// The current key stays: no revocation, no deletion.
		_, err = s.Revoke(ctx, second)
		wantCode(t, err, apierr.Conflict, "is current")
		wantCode(t, s.Delete(ctx, second), apierr.Conflict, "revoke it first")
		wantCode(t, s.Delete(ctx, first), apierr.Conflict, "revoke it first")
		_, err = s.Revoke(ctx, uuid.NewString())
		wantCode(t, err, apierr.NotFound, "no signing key")
		_, err = s.Revoke(ctx, "not-a-kid")
		wantCode(t, err, apierr.NotFound, "no signing key")

		// Undo the rotation, then redo it.
		if rot, err := s.Rotate(ctx, token.RotateOptions{KID: first, MinPublished: maxAge}); err != nil || rot.Current.ID != first || rot.Previous.ID != second {
			t.Fatalf("rotate back to the previous key: %+v, %v", rot, err)
		}
		if _, err := s.Rotate(ctx, token.RotateOptions{KID: second, MinPublished: maxAge}); err != nil {
			t.Fatalf("rotate forward again: %v", err)
		}

		// Revoke and restore the previous key.
		if k, err := s.Revoke(ctx, first); err != nil || k.State != token.Revoked {
			t.Fatalf("revoke previous: %+v, %v", k, err)
		}
		_, err = s.Revoke(ctx, first)
		wantCode(t, err, apierr.Conflict, "already revoked")
		_, err = s.Rotate(ctx, token.RotateOptions{KID: first})
		wantCode(t, err, apierr.Conflict, "restore it first")
		if k, err := s.Restore(ctx, first); err != nil || k.State != token.Previous {
			t.Fatalf("restore: %+v, %v", k, err)
		}
		_, err = s.Restore(ctx, second)
		wantCode(t, err, apierr.Conflict, "not revoked")

		// Past its retirement the previous key counts as revoked, before
		// and after RevokeRetired records it.
		clock.advance(retire - time.Second)
		if keys, _ := s.SigningKeys(ctx); len(keys) != 2 {
			t.Fatalf("%d keys verify a second before retirement, want 2", len(keys))
		}
		clock.advance(time.Second)
		if keys, _ := s.SigningKeys(ctx); len(keys) != 1 || keys[0].ID != second {
			t.Fatalf("keys verifying at retirement: %v", keys)
		}
		if got := states(t, s); got[first] != token.Revoked {
			t.Fatalf("list shows the retired key as %s", got[first])
		}
		if n, err := s.RevokeRetired(ctx); n != 1 || err != nil {
			t.Fatalf("RevokeRetired = %d, %v", n, err)
		}
		if n, _ := s.RevokeRetired(ctx); n != 0 {
			t.Fatalf("RevokeRetired again revoked %d", n)
		}

		// Deletion: standby and revoked keys only, and for good.
		standby, err := s.Create(ctx, token.RS256)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, standby.ID); err != nil {
			t.Fatalf("delete standby: %v", err)
		}
		if err := s.Delete(ctx, first); err != nil {
			t.Fatalf("delete revoked: %v", err)
		}
		_, err = s.Restore(ctx, first)
		wantCode(t, err, apierr.NotFound, "no signing key")
		if got := states(t, s); len(got) != 1 || got[second] != token.Current {
			t.Fatalf("keys left: %v", got)
		}
	})
}

// TestKeyBootstrapLegacy: a JWT_ACCESS_SECRET becomes the current legacy
// HS256 key of a database without one, named by a kid derived from it;
// once another key is current, a secret not in the database is reported
// unused and imports nothing.
func TestKeyBootstrapLegacy(t *testing.T) {
	ctx := context.Background()
	db := openKeyDB(t, apptest.Backends[0])
	s, _ := newStore(db, datakey.Generate())
	res, err := s.Bootstrap(ctx, apptest.JWTSecret)
	if err != nil || res.Created == nil || !res.Created.Legacy || res.Created.Alg != token.HS256 || res.Created.ID != token.LegacyKey(apptest.JWTSecret).ID {
		t.Fatalf("bootstrap with a legacy secret: %+v, %v", res, err)
	}
	if strings.Contains(res.Created.ID, apptest.JWTSecret[:8]) {
		t.Fatal("the legacy kid shows the secret")
	}
	if res, err := s.Bootstrap(ctx, apptest.JWTSecret); err != nil || res.Created != nil || res.LegacyUnused {
		t.Fatalf("second bootstrap: %+v, %v", res, err)
	}
	if res, err := s.Bootstrap(ctx, "another-secret-another-secret-another!"); err != nil || res.Created != nil || !res.LegacyUnused {
		t.Fatalf("bootstrap with another secret: %+v, %v", res, err)
	}
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].PublicJWK() != nil {
		t.Fatalf("the legacy key: %v, %v (it must have no public JWK)", keys, err)
	}
}

// TestKeyBootstrapRace starts several instances on one empty database at
// once: exactly one key becomes current, and every instance loads it.
func TestKeyBootstrapRace(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		db := openKeyDB(t, b)
		key := datakey.Generate()
		var wg sync.WaitGroup
		currents := make([]string, 6)
		for i := range currents {
			wg.Go(func() {
				s, _ := newStore(db, key)
				if _, err := s.Bootstrap(context.Background(), ""); err != nil {
					t.Errorf("bootstrap %d: %v", i, err)
					return
				}
				set, err := token.NewKeySet(context.Background(), s, nil)
				if err != nil {
					t.Errorf("key set %d: %v", i, err)
					return
				}
				currents[i] = set.Current().ID
			})
		}
		wg.Wait()
		n, err := db.SigningKey.Query().Count(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("%d keys stored (%v), want 1", n, err)
		}
		for i, c := range currents {
			if c != currents[0] {
				t.Fatalf("instance %d signs with %s, instance 0 with %s", i, c, currents[0])
			}
		}
	})
}

// TestPrivateKeysSealed: the stored private key is not the key (nor
// contains it), and opens neither under another data key nor in another
// row.
func TestPrivateKeysSealed(t *testing.T) {
	ctx := context.Background()
	db := openKeyDB(t, apptest.Backends[0])
	key := datakey.Generate()
	s, _ := newStore(db, key)
	k, err := s.Create(ctx, token.ES256)
	if err != nil {
		t.Fatal(err)
	}
	row, err := db.SigningKey.Get(ctx, uuid.MustParse(k.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(row.PrivateKey); err == nil {
		t.Fatal("the private key is stored in the clear")
	}
	if strings.Contains(row.String(), string(row.PrivateKey)) {
		t.Fatal("the row's String shows the private key")
	}
	other, _ := newStore(db, datakey.Generate())
	if _, err := other.SigningKeys(ctx); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("opened under another data key: %v", err)
	}
	// The same sealed bytes in another row do not open either.
	moved, err := s.Create(ctx, token.ES256)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.ExecContext(ctx, "UPDATE signing_keys SET private_key = ? WHERE id = ?", row.PrivateKey, moved.ID)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := newStore(db, key)
	if _, err := fresh.SigningKeys(ctx); err == nil {
		t.Fatal("a sealed key copied to another kid opened")
	}
	// Neither the key nor its log value shows key material.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("key", "key", k)
	if strings.Contains(buf.String(), "\"d\"") || !strings.Contains(buf.String(), k.ID) {
		t.Fatalf("log of a key: %s", buf.String())
	}
}

// TestKeySetReloadsForUnknownKID: a key made current by another instance
// verifies here at once, before the next refresh; made-up kids cost at
// most one reload per UnknownKIDReloadGap.
func TestKeySetReloadsForUnknownKID(t *testing.T) {
	ctx := context.Background()
	db := openKeyDB(t, apptest.Backends[0])
	key := datakey.Generate()
	here, _ := newStore(db, key)
	if _, err := here.Bootstrap(ctx, ""); err != nil {
		t.Fatal(err)
	}
	counting := &countingSource{src: here}
	set, err := token.NewKeySet(ctx, counting, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	iss := token.NewIssuer(set, token.IssuerSettings{Issuer: "gqlauth", Audience: "gqlauth", TTL: time.Minute})

	elsewhere, _ := newStore(db, key)
	if _, err := elsewhere.Create(ctx, token.EdDSA); err != nil {
		t.Fatal(err)
	}
	rot, err := elsewhere.Rotate(ctx, token.RotateOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	otherSet, err := token.NewKeySet(ctx, elsewhere, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := token.NewIssuer(otherSet, token.IssuerSettings{Issuer: "gqlauth", Audience: "gqlauth", TTL: time.Minute})
	raw, _, err := other.Issue(token.Subject{UserID: uuid.New(), SessionID: uuid.New(), Role: "USER"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Verify(raw); err != nil {
		t.Fatalf("a token of the key %s made current elsewhere: %v", rot.Current.ID, err)
	}
	if set.Current().ID != rot.Current.ID {
		t.Fatalf("after the reload this instance signs with %s, want %s", set.Current().ID, rot.Current.ID)
	}

	// Made-up kids, many at once: one reload per gap.
	before := counting.n()
	start := time.Now()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			// The key is looked up before the signature is checked.
			h, _ := json.Marshal(map[string]any{"alg": "EdDSA", "typ": token.AccessTokenType, "kid": uuid.NewString()})
			forged := base64.RawURLEncoding.EncodeToString(h) + ".e30.AAAA"
			if _, err := iss.Verify(forged); err == nil {
				t.Error("a made-up kid verified")
			}
		})
	}
	wg.Wait()
	reloads := counting.n() - before
	if limit := int(time.Since(start)/token.UnknownKIDReloadGap) + 1; reloads < 1 || reloads > limit {
		t.Fatalf("%d reloads for 50 unknown kids in %s, want at most %d", reloads, time.Since(start), limit)
	}
}

// countingSource counts the loads of a key source.
type countingSource struct {
	src token.KeySource
	mu  sync.Mutex
	k   int
}

func (c *countingSource) SigningKeys(ctx context.Context) ([]*token.Key, error) {
	c.mu.Lock()
	c.k++
	c.mu.Unlock()
	return c.src.SigningKeys(ctx)
}

func (c *countingSource) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.k
}

// keyEvents keeps the changes a key store records; fail makes the next
// record fail.
type keyEvents struct {
	mu      sync.Mutex
	changes []token.KeyChange
	fail    bool
}

func (e *keyEvents) KeyChanged(_ context.Context, _ *ent.Tx, c token.KeyChange) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail {
		e.fail = false
		return errors.New("the trail is down")
	}
	e.changes = append(e.changes, c)
	return nil
}

func (e *keyEvents) kinds() []token.KeyChangeKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []token.KeyChangeKind
	for _, c := range e.changes {
		out = append(out, c.Kind)
	}
	return out
}

// TestKeyChangesRecorded: every change of a key's state is recorded in
// its transaction (a change whose record fails does not happen), the end
// of a retirement once whichever instance writes it, and the details
// name the keys.
func TestKeyChangesRecorded(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		ctx := context.Background()
		db := openKeyDB(t, b)
		events := &keyEvents{}
		s, clock := newStore(db, datakey.Generate())
		s.RecordTo(events)
		other, _ := newStore(db, datakey.Generate())
		other.RecordTo(events)
		token.SetStoreNow(other, clock.now)
		res, err := s.Bootstrap(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		first := res.Created.ID

		// A rotation whose record fails is rolled back.
		events.fail = true
		if _, err := s.Rotate(ctx, token.RotateOptions{Force: true}); err == nil {
			t.Fatal("a rotation whose audit record failed succeeded")
		}
		if got := states(t, s); got[first] != token.Current {
			t.Fatalf("the rotation took effect without its record: %v", got)
		}
		rot, err := s.Rotate(ctx, token.RotateOptions{Force: true})
		if err != nil {
			t.Fatal(err)
		}
		second := rot.Current.ID
		if c := events.changes[0]; c.Kind != token.KeyRotated || c.Key.ID != second || c.Previous == nil || c.Previous.ID != first {
			t.Fatalf("rotation recorded as %+v", c)
		}
		if _, err := s.Rotate(ctx, token.RotateOptions{KID: first, Force: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Revoke(ctx, second); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Restore(ctx, second); err != nil {
			t.Fatal(err)
		}
		// Past its retirement, the previous key is revoked once, by
		// whichever instance's loop comes first.
		clock.advance(retire + time.Second)
		n1, err1 := s.RevokeRetired(ctx)
		n2, err2 := other.RevokeRetired(ctx)
		if err1 != nil || err2 != nil || n1+n2 != 1 {
			t.Fatalf("revoke retired: %d %v, %d %v", n1, err1, n2, err2)
		}
		if err := s.Delete(ctx, second); err != nil {
			t.Fatal(err)
		}
		want := []token.KeyChangeKind{token.KeyRotated, token.KeyRotated, token.KeyRevoked, token.KeyRestored, token.KeyRevoked, token.KeyDeleted}
		if got := events.kinds(); !slices.Equal(got, want) {
			t.Fatalf("recorded %v, want %v", got, want)
		}
		if c := events.changes[2]; c.Retired || c.Key.ID != second {
			t.Fatalf("the command's revocation recorded as %+v", c)
		}
		if c := events.changes[4]; !c.Retired || c.Key.ID != second || c.Key.State != token.Revoked {
			t.Fatalf("the end of the retirement recorded as %+v", c)
		}
	})
}
