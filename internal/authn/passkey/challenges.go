package passkey

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/webauthnchallenge"
)

// Challenges keeps the ceremonies waiting for the browser: each is taken
// at most once, and not after its time to live.
type Challenges interface {
	// Put stores data under id for ttl.
	Put(ctx context.Context, id uuid.UUID, data []byte, ttl time.Duration) error
	// Take returns id's data and forgets it; nil when there is none (never
	// stored, taken already, or expired).
	Take(ctx context.Context, id uuid.UUID) ([]byte, error)
}

// RedisChallenges keeps challenges in Redis under <prefix>webauthn:<id>,
// expiring by TTL, taken with GETDEL.
type RedisChallenges struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisChallenges returns the challenges in rdb under prefix
// (REDIS_KEY_PREFIX).
func NewRedisChallenges(rdb redis.UniversalClient, prefix string) *RedisChallenges {
	return &RedisChallenges{rdb: rdb, prefix: prefix}
}

func (r *RedisChallenges) key(id uuid.UUID) string { return r.prefix + "webauthn:" + id.String() }

// Put stores data for ttl.
func (r *RedisChallenges) Put(ctx context.Context, id uuid.UUID, data []byte, ttl time.Duration) error {
	return r.rdb.Set(ctx, r.key(id), data, ttl).Err()
}

// Take gets and deletes id's data in one command.
func (r *RedisChallenges) Take(ctx context.Context, id uuid.UUID) ([]byte, error) {
	b, err := r.rdb.GetDel(ctx, r.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}

// DBChallenges keeps challenges in the webauthn_challenges table, for a
// deployment without Redis.
type DBChallenges struct {
	db  *ent.Client
	now func() time.Time
}

// NewDBChallenges returns the challenges in db; now nil is time.Now.
func NewDBChallenges(db *ent.Client, now func() time.Time) *DBChallenges {
	if now == nil {
		now = time.Now
	}
	return &DBChallenges{db: db, now: now}
}

// Put inserts the challenge.
func (d *DBChallenges) Put(ctx context.Context, id uuid.UUID, data []byte, ttl time.Duration) error {
	return d.db.WebauthnChallenge.Create().SetID(id).SetData(data).SetExpiresAt(d.now().Add(ttl)).Exec(ctx)
}

// Take reads the challenge, then deletes it: the conditional DELETE
// decides which of two concurrent takers gets it.
func (d *DBChallenges) Take(ctx context.Context, id uuid.UUID) ([]byte, error) {
	c, err := d.db.WebauthnChallenge.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n, err := d.db.WebauthnChallenge.Delete().Where(webauthnchallenge.ID(id)).Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("spend challenge: %w", err)
	}
	if n != 1 || !d.now().Before(c.ExpiresAt) {
		return nil, nil
	}
	return c.Data, nil
}

// DeleteExpired deletes the challenges past their time (housekeeping).
func (d *DBChallenges) DeleteExpired(ctx context.Context) (int, error) {
	return d.db.WebauthnChallenge.Delete().Where(webauthnchallenge.ExpiresAtLT(d.now())).Exec(ctx)
}
