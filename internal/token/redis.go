package token

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisDenyList is the DenyList shared by every gqlauth instance through
// Redis. Denials survive a restart of gqlauth and are seen by all
// instances at once.
type RedisDenyList struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRedisDenyList returns a deny list in rdb whose keys start with
// prefix and expire after ttl (the access-token lifetime).
func NewRedisDenyList(rdb redis.UniversalClient, prefix string, ttl time.Duration) *RedisDenyList {
	return &RedisDenyList{rdb: rdb, prefix: prefix, ttl: ttl}
}

// DenyToken implements DenyList.
func (r *RedisDenyList) DenyToken(ctx context.Context, jti string) error {
	if err := r.rdb.Set(ctx, r.prefix+jtiKey(jti), 1, r.ttl).Err(); err != nil {
		return fmt.Errorf("deny token: %w", err)
	}
	return nil
}

// DenySessions implements DenyList.
func (r *RedisDenyList) DenySessions(ctx context.Context, sids ...string) error {
	if len(sids) == 0 {
		return nil
	}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, sid := range sids {
			p.Set(ctx, r.prefix+sidKey(sid), 1, r.ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deny sessions: %w", err)
	}
	return nil
}

// raiseScript sets a key to a number only if it is larger than the value
// there, so that two racing global logouts cannot lower the not-before.
var raiseScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = tonumber(ARGV[1])
if new > cur then cur = new end
redis.call('SET', KEYS[1], cur, 'PX', ARGV[2])
return cur`)

// DenyUserBefore implements DenyList.
func (r *RedisDenyList) DenyUserBefore(ctx context.Context, userID string, t time.Time) error {
	err := raiseScript.Run(ctx, r.rdb, []string{r.prefix + userKey(userID)}, formatUnix(t), r.ttl.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("deny user: %w", err)
	}
	return nil
}

// Denied implements DenyList with one MGET: one round trip per request.
func (r *RedisDenyList) Denied(ctx context.Context, c *Claims) (bool, error) {
	vals, err := r.rdb.MGet(ctx,
		r.prefix+jtiKey(c.ID),
		r.prefix+sidKey(c.SessionID),
		r.prefix+userKey(c.Subject),
	).Result()
	if err != nil {
		return false, fmt.Errorf("check deny list: %w", err)
	}
	if vals[0] != nil || vals[1] != nil {
		return true, nil
	}
	if s, ok := vals[2].(string); ok {
		nbf, err := strconv.ParseInt(s, 10, 64)
		if err != nil || issuedBefore(c, nbf) {
			return true, nil
		}
	}
	return false, nil
}
