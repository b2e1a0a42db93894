package token

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// DenyList remembers access tokens that must be refused before they
// expire: single tokens (by jti, on logout), whole sessions (by sid, when
// a session is revoked) and everything a user held before a moment (a
// per-user not-before, on global logout, password change or deletion).
//
// An entry is only useful while a token it matches can still be valid,
// so every entry expires one access-token lifetime after it is written;
// memory stays bounded by the denials of one lifetime.
type DenyList interface {
	// DenyToken refuses the access token with this jti, of this user.
	DenyToken(ctx context.Context, userID, jti string) error
	// DenySessions refuses every access token of these sessions of the
	// user. (The user id keeps a user's entries together: on a Redis
	// Cluster they share a hash slot, so one MGET reads them.)
	DenySessions(ctx context.Context, userID string, sids ...string) error
	// DenyUserBefore refuses every access token of the user issued before t.
	DenyUserBefore(ctx context.Context, userID string, t time.Time) error
	// Denied reports whether the token with these claims is refused. An
	// error means the answer is unknown, and the caller must fail closed.
	Denied(ctx context.Context, c *Claims) (bool, error)
}

// MemoryDenyList is the in-process DenyList. It is right for a single
// instance only: denials written by one process are invisible to another
// and are lost on restart. Use the Redis one (REDIS_URL) for anything else.
type MemoryDenyList struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]memoryEntry
	// nextSweep is when expired entries are next dropped.
	nextSweep time.Time
}

type memoryEntry struct {
	value   int64 // not-before unix seconds for user entries; 1 otherwise
	expires time.Time
}

// NewMemoryDenyList returns an empty in-process deny list whose entries
// last ttl (the access-token lifetime).
func NewMemoryDenyList(ttl time.Duration) *MemoryDenyList {
	return &MemoryDenyList{ttl: ttl, now: time.Now, entries: make(map[string]memoryEntry)}
}

func (m *MemoryDenyList) put(key string, value int64) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.After(m.nextSweep) {
		for k, e := range m.entries {
			if now.After(e.expires) {
				delete(m.entries, k)
			}
		}
		m.nextSweep = now.Add(m.ttl / 4)
	}
	if old, ok := m.entries[key]; ok && old.value > value {
		value = old.value
	}
	m.entries[key] = memoryEntry{value: value, expires: now.Add(m.ttl)}
}

func (m *MemoryDenyList) get(key string, now time.Time) (int64, bool) {
	e, ok := m.entries[key]
	if !ok || now.After(e.expires) {
		return 0, false
	}
	return e.value, true
}

// Len is the number of entries held, expired ones included until the next sweep.
func (m *MemoryDenyList) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// DenyToken implements DenyList.
func (m *MemoryDenyList) DenyToken(_ context.Context, userID, jti string) error {
	m.put(jtiKey(userID, jti), 1)
	return nil
}

// DenySessions implements DenyList.
func (m *MemoryDenyList) DenySessions(_ context.Context, userID string, sids ...string) error {
	for _, sid := range sids {
		m.put(sidKey(userID, sid), 1)
	}
	return nil
}

// DenyUserBefore implements DenyList.
func (m *MemoryDenyList) DenyUserBefore(_ context.Context, userID string, t time.Time) error {
	m.put(userKey(userID), t.Unix())
	return nil
}

// Denied implements DenyList.
func (m *MemoryDenyList) Denied(_ context.Context, c *Claims) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.get(jtiKey(c.Subject, c.ID), now); ok {
		return true, nil
	}
	if _, ok := m.get(sidKey(c.Subject, c.SessionID), now); ok {
		return true, nil
	}
	if nbf, ok := m.get(userKey(c.Subject), now); ok && issuedBefore(c, nbf) {
		return true, nil
	}
	return false, nil
}

// issuedBefore reports whether the token was issued before the unix
// second nbf. Tokens issued in the same second as a global logout are
// not caught here; they are caught by their session's denial, which the
// logout writes too.
func issuedBefore(c *Claims, nbf int64) bool {
	return c.IssuedAt == nil || c.IssuedAt.Unix() < nbf
}

// DenyListLayout is the version of the deny list's key layout in Redis
// (verify.DenyListLayout is the one the verifier reads). Version 2, under
// REDIS_KEY_PREFIX, every key of a user in the hash slot of {<user id>}:
//
//	deny:v2:{<sub>}:jti:<jti>  exists: the token with this jti is refused
//	deny:v2:{<sub>}:sid:<sid>  exists: every token of this session is refused
//	deny:v2:{<sub>}:user       a Unix time in seconds: the user's tokens
//	                           issued before it are refused
//	deny:v2:epoch              the index's epoch (see RedisDenyList)
//
// Version 1 had no user in the jti and sid keys (deny:jti:<jti>, …), so a
// cluster could not read them in one command. A version-2 gqlauth finds no
// epoch on its first start and rebuilds the index from the database, which
// holds every denial version 1 wrote (each came with a session revocation).
const DenyListLayout = 2

const layoutPrefix = "deny:v2:"

func userTag(uid string) string     { return layoutPrefix + "{" + uid + "}:" }
func jtiKey(uid, jti string) string { return userTag(uid) + "jti:" + jti }
func sidKey(uid, sid string) string { return userTag(uid) + "sid:" + sid }
func userKey(uid string) string     { return userTag(uid) + "user" }
func epochKey() string              { return layoutPrefix + "epoch" }

func formatUnix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
