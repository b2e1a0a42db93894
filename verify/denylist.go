package verify

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// DenyListLayout is the version of gqlauth's deny-list key layout that
// RedisDenyList reads. Version 2, under gqlauth's REDIS_KEY_PREFIX, every
// key of a user in the Redis Cluster hash slot of {<sub>}:
//
//	<prefix>deny:v2:{<sub>}:jti:<jti>  exists: the token with this jti is refused (logout)
//	<prefix>deny:v2:{<sub>}:sid:<sid>  exists: every token of this session is refused
//	<prefix>deny:v2:{<sub>}:user       a Unix time in seconds: the user's tokens issued
//	                                   before it are refused (logout everywhere,
//	                                   password change, deletion)
//	<prefix>deny:v2:epoch              present while the index is whole: gqlauth
//	                                   rebuilds it from its database when Redis
//	                                   lost data, and writes the epoch last
//
// gqlauth writes each deny key with an expiry of the access-token lifetime
// plus the leeway. A change of layout changes this number, and gqlauth's
// release notes name it. (Version 1 had no {<sub>} in the jti and sid keys.)
const DenyListLayout = 2

// errNoEpoch is the answer while gqlauth's index is missing or being
// rebuilt (Redis lost its data).
var errNoEpoch = errors.New("gqlauth's deny-list index is missing (Redis lost data); it is being rebuilt")

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
// error means the answer is unknown: refuse the token. Outside a Redis
// Cluster the same MGET reads the epoch, and a missing epoch (Redis lost
// the index and gqlauth is rebuilding it) is such an error.
func (d *RedisDenyList) Denied(ctx context.Context, c *Claims) (bool, error) {
	tag := d.prefix + "deny:v2:{" + c.Subject + "}:"
	keys := []string{tag + "jti:" + c.ID, tag + "sid:" + c.SessionID, tag + "user"}
	_, cluster := d.rdb.(*redis.ClusterClient)
	if !cluster {
		keys = append(keys, d.prefix+"deny:v2:epoch")
	}
	vals, err := d.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return false, fmt.Errorf("read the deny list: %w", err)
	}
	if !cluster && vals[3] == nil {
		return false, errNoEpoch
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
