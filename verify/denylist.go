package verify

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// DenyListLayout is the version of gqlauth's deny-list key layout that
// RedisDenyList reads. Version 1, under gqlauth's REDIS_KEY_PREFIX:
//
//	<prefix>deny:jti:<jti>   exists: the token with this jti is refused (logout)
//	<prefix>deny:sid:<sid>   exists: every token of this session is refused
//	<prefix>deny:user:<sub>  a Unix time in seconds: the user's tokens issued
//	                         before it are refused (logout everywhere,
//	                         password change, deletion)
//
// gqlauth writes each key with an expiry of the access-token lifetime plus
// the leeway. A change of layout changes this number, and gqlauth's
// release notes name it.
const DenyListLayout = 1

// RedisDenyList reads gqlauth's deny list from the Redis gqlauth writes
// it to (its REDIS_URL and REDIS_KEY_PREFIX), in one round trip per token.
type RedisDenyList struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisDenyList reads the deny list under prefix (gqlauth's
// REDIS_KEY_PREFIX, by default "gqlauth:") in rdb.
func NewRedisDenyList(rdb redis.UniversalClient, prefix string) *RedisDenyList {
	return &RedisDenyList{rdb: rdb, prefix: prefix}
}

// Denied reports whether gqlauth has refused the token with claims c. An
// error means the answer is unknown: refuse the token.
func (d *RedisDenyList) Denied(ctx context.Context, c *Claims) (bool, error) {
	vals, err := d.rdb.MGet(ctx,
		d.prefix+"deny:jti:"+c.ID,
		d.prefix+"deny:sid:"+c.SessionID,
		d.prefix+"deny:user:"+c.Subject,
	).Result()
	if err != nil {
		return false, fmt.Errorf("read the deny list: %w", err)
	}
	if vals[0] != nil || vals[1] != nil {
		return true, nil
	}
	if s, ok := vals[2].(string); ok {
		nbf, err := strconv.ParseInt(s, 10, 64)
		if err != nil || c.IssuedAt == nil || c.IssuedAt.Unix() < nbf {
			return true, nil
		}
	}
	return false, nil
}
