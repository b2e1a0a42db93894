package token

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/internal/batch"
)

// RedisDenyList is the DenyList shared by every gqlauth instance through
// Redis. Denials are seen by all instances at once.
//
// Redis is an index, not the record: the database holds every denial
// (the sessions' revoked_at and the denied_tokens table), and Redis can
// lose data that gqlauth wrote (a restart without persistence, a failover
// to a replica that had not caught up, a FLUSHALL, eviction). Guard makes
// the list notice such a loss and rebuild the index from the database
// before it answers again: an epoch key under the prefix, which a rebuild
// writes last, is read with every lookup (on one node or Sentinel: in the
// same MGET; on a cluster it lives in another slot) and by Run every
// CheckInterval with each master's replication id, which changes when a
// master restarts or a replica takes over. While the index is not known
// to be whole, Denied answers ErrIndexRebuilding and callers fail closed.
type RedisDenyList struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
	// epochName is the epoch's key under the prefix.
	epochName string

	// The guard; source is nil for an unguarded list (tests, the bench).
	source DenialSource
	log    *slog.Logger
	ready  atomic.Bool
	// trips counts untrust calls: a lookup whose answer came after one
	// (it waited for a slot, or was in flight) is not trusted either.
	trips atomic.Uint64
	epoch atomic.Pointer[string] // the epoch the index is whole for
	kick  chan struct{}          // asks Run for a check now
	mu    sync.Mutex             // one check at a time
	// replIDs are the masters' replication ids at the last check.
	replIDs map[string]string
	// lookups sends Denied's MGETs: alone while few are in flight, else
	// pipelined together (one write and one read for many requests).
	lookups *batch.Loader[[]string, []any]
}

// ErrIndexRebuilding is Denied's answer while the Redis index may miss
// denials: after Redis lost data, until the rebuild from the database is
// done, or while Redis cannot be asked whether it did.
var ErrIndexRebuilding = errors.New("the deny list's index is being rebuilt from the database")

// CheckInterval is how often Run checks the index's epoch: a data loss
// on a cluster, or a failover, is noticed within it.
const CheckInterval = 500 * time.Millisecond

// Denial is one denial the database holds: a session (SessionID), a token
// (TokenID) or every token of the user issued before Before.
type Denial struct {
	UserID    string
	SessionID string
	TokenID   string
	Before    time.Time
}

// DenialSource reads the denials whose tokens may still be valid (those
// made within the last access-token lifetime), from the database.
type DenialSource interface {
	LiveDenials(ctx context.Context, since time.Time) ([]Denial, error)
}

// NewRedisDenyList returns a deny list in rdb whose keys start with
// prefix and expire after ttl (the access-token lifetime). It is not
// guarded until Guard.
func NewRedisDenyList(rdb redis.UniversalClient, prefix string, ttl time.Duration) *RedisDenyList {
	r := &RedisDenyList{rdb: rdb, prefix: prefix, ttl: ttl, epochName: prefix + epochKey()}
	r.lookups = batch.New(batch.PerCPU(), r.mget)
	return r
}

// mget answers Denied's lookups: one MGET, or several in one pipeline
// (on a cluster, one per node: each MGET's keys share a slot).
func (r *RedisDenyList) mget(ctx context.Context, lookups [][]string) []batch.Result[[]any] {
	out := make([]batch.Result[[]any], len(lookups))
	if len(lookups) == 1 {
		out[0].Value, out[0].Err = r.rdb.MGet(ctx, lookups[0]...).Result()
		return out
	}
	cmds := make([]*redis.SliceCmd, len(lookups))
	_, _ = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, keys := range lookups {
			cmds[i] = p.MGet(ctx, keys...)
		}
		return nil
	})
	for i, cmd := range cmds {
		out[i].Value, out[i].Err = cmd.Result()
	}
	return out
}

// Guard makes r rebuild its index from source when Redis loses data, and
// refuse to answer until the first Check succeeds. Call it before any
// lookup, then run Run.
func (r *RedisDenyList) Guard(source DenialSource, log *slog.Logger) {
	r.source, r.log = source, log
	r.kick = make(chan struct{}, 1)
}

// DenyToken implements DenyList.
func (r *RedisDenyList) DenyToken(ctx context.Context, userID, jti string) error {
	if err := r.rdb.Set(ctx, r.prefix+jtiKey(userID, jti), 1, r.ttl).Err(); err != nil {
		return fmt.Errorf("deny token: %w", err)
	}
	return nil
}

// DenySessions implements DenyList.
func (r *RedisDenyList) DenySessions(ctx context.Context, userID string, sids ...string) error {
	if len(sids) == 0 {
		return nil
	}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, sid := range sids {
			p.Set(ctx, r.prefix+sidKey(userID, sid), 1, r.ttl)
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

// clustered reports whether rdb spreads keys over several nodes, where
// the epoch key cannot join a user's keys in one MGET.
func (r *RedisDenyList) clustered() bool {
	_, ok := r.rdb.(*redis.ClusterClient)
	return ok
}

// Denied implements DenyList with one MGET: one round trip per request,
// or a share of one when requests come faster than Redis answers (they
// are pipelined together).
func (r *RedisDenyList) Denied(ctx context.Context, c *Claims) (bool, error) {
	guarded := r.source != nil
	trips := r.trips.Load()
	if guarded && !r.ready.Load() {
		r.wake()
		return false, ErrIndexRebuilding
	}
	withEpoch := guarded && !r.clustered()
	vals, err := r.lookups.Load(ctx, r.lookupKeys(c, withEpoch))
	if err != nil {
		if guarded && ctx.Err() == nil {
			// A node may be failing over to a replica that lacks the last
			// denials: answer nothing until a check has looked.
			r.untrust()
			r.wake()
		}
		return false, fmt.Errorf("check deny list: %w", err)
	}
	if guarded && (!r.ready.Load() || r.trips.Load() != trips) {
		// The guard tripped while this lookup waited or ran: its answer
		// may come from the index it no longer trusts.
		r.wake()
		return false, ErrIndexRebuilding
	}
	if withEpoch {
		if e, _ := vals[3].(string); e == "" || e != *r.epoch.Load() {
			// Redis lost data, or another instance rebuilt: check first.
			r.untrust()
			r.wake()
			return false, ErrIndexRebuilding
		}
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

// lookupKeys are the keys Denied reads: the token's, its session's and
// its user's (the same keys jtiKey, sidKey and userKey name, under the
// prefix), and the epoch's when asked. It runs on every authenticated
// request, so the three are cut from one string rather than built apart.
func (r *RedisDenyList) lookupKeys(c *Claims, withEpoch bool) []string {
	tag := r.prefix + userTag(c.Subject)
	var b strings.Builder
	b.Grow(3*len(tag) + len("jti:sid:user") + len(c.ID) + len(c.SessionID))
	b.WriteString(tag)
	b.WriteString("jti:")
	b.WriteString(c.ID)
	jti := b.Len()
	b.WriteString(tag)
	b.WriteString("sid:")
	b.WriteString(c.SessionID)
	sid := b.Len()
	b.WriteString(tag)
	b.WriteString("user")
	all := b.String()
	keys := make([]string, 3, 4)
	keys[0], keys[1], keys[2] = all[:jti], all[jti:sid], all[sid:]
	if withEpoch {
		keys = append(keys, r.epochName)
	}
	return keys
}

// untrust makes Denied refuse until a check succeeds, and refuse the
// lookups already under way.
func (r *RedisDenyList) untrust() {
	r.trips.Add(1)
	r.ready.Store(false)
}

func (r *RedisDenyList) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run checks the index every CheckInterval, and at once when a lookup
// saw a changed epoch, until ctx ends.
func (r *RedisDenyList) Run(ctx context.Context) {
	t := time.NewTicker(CheckInterval)
	defer t.Stop()
	for {
		if err := r.Check(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("deny list: cannot check the Redis index; authenticated requests fail until it answers", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
	}
}

// Check reads the epoch and the masters' replication ids, and rebuilds
// the index from the database when the epoch is gone or a master changed.
// The list answers lookups only after a Check succeeded; an error leaves
// it refusing (fail closed) until the next one.
func (r *RedisDenyList) Check(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	epoch, err := r.rdb.Get(ctx, r.epochName).Result()
	if err == nil || errors.Is(err, redis.Nil) {
		var ids map[string]string
		if ids, err = r.replicationIDs(ctx); err == nil {
			return r.checked(ctx, epoch, ids)
		}
	}
	r.untrust()
	if c, ok := r.rdb.(*redis.ClusterClient); ok {
		// A master may have failed over: read the slot map again now
		// rather than when go-redis would (every 10 s).
		c.ReloadState(ctx)
	}
	return fmt.Errorf("check the index: %w", err)
}

// checked acts on what Check read: the index is whole, or it is rebuilt.
func (r *RedisDenyList) checked(ctx context.Context, epoch string, ids map[string]string) error {
	known := r.epoch.Load()
	masterChanged := r.replIDs != nil && !maps.Equal(ids, r.replIDs)
	switch {
	case epoch != "" && !masterChanged:
		// Whole: unchanged, or rebuilt by another instance (a rebuild
		// writes the epoch last), or found at start.
		if known == nil || *known != epoch {
			r.epoch.Store(&epoch)
		}
		r.replIDs = ids
		r.ready.Store(true)
		return nil
	}
	r.untrust()
	began := time.Now()
	n, err := r.rebuild(ctx)
	if err != nil {
		return fmt.Errorf("rebuild the deny list: %w", err)
	}
	fresh := rand.Text()
	if epoch == "" {
		// Several instances may rebuild at once; the first epoch stays,
		// and every rebuild wrote the same entries.
		ok, err := r.rdb.SetNX(ctx, r.epochName, fresh, 0).Result()
		if err != nil {
			return fmt.Errorf("write the epoch: %w", err)
		}
		if !ok {
			if fresh, err = r.rdb.Get(ctx, r.epochName).Result(); err != nil {
				return fmt.Errorf("read the epoch: %w", err)
			}
		}
	} else if err := r.rdb.Set(ctx, r.epochName, fresh, 0).Err(); err != nil {
		return fmt.Errorf("write the epoch: %w", err)
	}
	r.epoch.Store(&fresh)
	r.replIDs = ids
	r.ready.Store(true)
	r.log.Warn("deny list: Redis had lost its index (restart, failover or flush); rebuilt it from the database",
		"denials", n, "master_changed", masterChanged, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// rebuild writes every live denial of the database into Redis. The
// writes are idempotent (SET, and the not-before only ever raised), so
// instances rebuilding at once, or a denial written meanwhile, agree.
func (r *RedisDenyList) rebuild(ctx context.Context) (int, error) {
	denials, err := r.source.LiveDenials(ctx, time.Now().Add(-r.ttl))
	if err != nil {
		return 0, err
	}
	const batch = 1000
	for i := 0; i < len(denials); i += batch {
		_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, d := range denials[i:min(i+batch, len(denials))] {
				switch {
				case d.SessionID != "":
					p.Set(ctx, r.prefix+sidKey(d.UserID, d.SessionID), 1, r.ttl)
				case d.TokenID != "":
					p.Set(ctx, r.prefix+jtiKey(d.UserID, d.TokenID), 1, r.ttl)
				case !d.Before.IsZero():
					// EVAL, not EVALSHA: a Redis that lost its data lost
					// its script cache too, and a pipeline cannot retry.
					raiseScript.Eval(ctx, p, []string{r.prefix + userKey(d.UserID)}, formatUnix(d.Before), r.ttl.Milliseconds())
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return len(denials), nil
}

// replicationIDs maps each master to its replication id, which a master
// changes when it restarts without its data or when a replica is
// promoted in its place.
func (r *RedisDenyList) replicationIDs(ctx context.Context) (map[string]string, error) {
	ids := map[string]string{}
	read := func(ctx context.Context, c *redis.Client) (string, error) {
		info, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return "", fmt.Errorf("read the replication id: %w", err)
		}
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "master_replid:"); ok {
				return v, nil
			}
		}
		return "", nil
	}
	switch c := r.rdb.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex
		err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			id, err := read(ctx, node)
			mu.Lock()
			ids[node.Options().Addr] = id
			mu.Unlock()
			return err
		})
		return ids, err
	case *redis.Client:
		id, err := read(ctx, c)
		ids[""] = id
		return ids, err
	}
	return ids, nil
}
