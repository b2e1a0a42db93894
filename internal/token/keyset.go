package token

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// KeySource loads the keys that sign or verify: every key but the
// revoked ones. *KeyStore is the real one; StaticKeys serves tests and
// benchmarks.
type KeySource interface {
	SigningKeys(ctx context.Context) ([]*Key, error)
}

// StaticKeys is a KeySource of fixed keys.
type StaticKeys []*Key

// SigningKeys implements KeySource.
func (s StaticKeys) SigningKeys(context.Context) ([]*Key, error) { return s, nil }

// UnknownKIDReloadGap is the least time between two reloads caused by
// tokens naming a kid this instance does not know: a key made current on
// another instance is picked up at once, while tokens with made-up kids
// cost at most one database read per gap.
const UnknownKIDReloadGap = time.Second

// reloadWait bounds how long a verification waits for such a reload.
const reloadWait = 3 * time.Second

// KeySet is the keys one instance signs and verifies with, held in
// memory and replaced whole on each reload: from the database at start,
// every JWT_KEYS_REFRESH_INTERVAL (Run), and when a token names an
// unknown kid. Reads never wait on a reload.
type KeySet struct {
	src KeySource
	log *slog.Logger
	now func() time.Time

	snap atomic.Pointer[keySnapshot]

	// mu guards pending and lastReload, for reloads on unknown kids.
	mu         sync.Mutex
	pending    chan struct{}
	lastReload time.Time
}

// keySnapshot is one loaded generation of keys.
type keySnapshot struct {
	byID    map[string]*Key
	current *Key
	// jwks is the JWKS document and etag its entity tag.
	jwks []byte
	etag string
}

// NewKeySet loads the keys from src. It fails when src fails or has no
// current key.
func NewKeySet(ctx context.Context, src KeySource, log *slog.Logger) (*KeySet, error) {
	s := &KeySet{src: src, log: log, now: time.Now}
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	if s.snap.Load().current == nil {
		return nil, errors.New("no current signing key")
	}
	return s, nil
}

// Reload loads the keys again and makes them the ones in use.
func (s *KeySet) Reload(ctx context.Context) error {
	keys, err := s.src.SigningKeys(ctx)
	if err != nil {
		return err
	}
	next := newSnapshot(keys)
	if prev := s.snap.Swap(next); prev != nil && s.log != nil {
		if next.current == nil {
			s.log.Error("no current signing key: access tokens cannot be issued until one is (gqlauth keys rotate)")
		} else if prev.current == nil || prev.current.ID != next.current.ID {
			s.log.Info("signing key changed", "key", next.current)
		}
		for id, k := range prev.byID {
			if _, ok := next.byID[id]; !ok {
				s.log.Info("signing key no longer verifies (revoked or deleted)", "key", k)
			}
		}
	}
	s.mu.Lock()
	s.lastReload = s.now()
	s.mu.Unlock()
	return nil
}

// newSnapshot indexes keys and renders their JWKS.
func newSnapshot(keys []*Key) *keySnapshot {
	snap := &keySnapshot{byID: make(map[string]*Key, len(keys))}
	var doc bytes.Buffer
	doc.WriteString(`{"keys":[`)
	n := 0
	for _, k := range keys {
		switch k.State {
		case Standby, Current, Previous:
		default:
			continue
		}
		snap.byID[k.ID] = k
		if k.State == Current && (snap.current == nil || k.ActivatedAt.After(snap.current.ActivatedAt)) {
			snap.current = k
		}
		if k.jwk == nil {
			continue // HS256: never published
		}
		if n > 0 {
			doc.WriteByte(',')
		}
		doc.Write(k.jwk)
		n++
	}
	doc.WriteString("]}")
	snap.jwks = doc.Bytes()
	sum := sha256.Sum256(snap.jwks)
	snap.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return snap
}

// Current is the key that signs, or nil when there is none.
func (s *KeySet) Current() *Key { return s.snap.Load().current }

// JWKS is the JSON Web Key Set of the published keys (the public keys of
// the standby, current and previous asymmetric keys, in the order they
// were made) and its entity tag. Instances that loaded the same keys
// serve the same bytes and tag.
func (s *KeySet) JWKS() (doc []byte, etag string) {
	snap := s.snap.Load()
	return snap.jwks, snap.etag
}

// Lookup returns the key kid names, if it verifies. A kid this instance
// does not know may belong to a key made on another instance since the
// last reload: the keys are reloaded once (at most one such reload per
// UnknownKIDReloadGap, shared by every lookup waiting for it) before the
// answer is no.
func (s *KeySet) Lookup(kid string) (*Key, bool) {
	if k, ok := s.snap.Load().byID[kid]; ok {
		return k, true
	}
	if _, static := s.src.(StaticKeys); static {
		return nil, false // they never change
	}
	s.reloadForUnknownKID()
	k, ok := s.snap.Load().byID[kid]
	return k, ok
}

// reloadForUnknownKID waits for the next reload of the keys, starting one
// when none is pending, no sooner than UnknownKIDReloadGap after the last.
func (s *KeySet) reloadForUnknownKID() {
	s.mu.Lock()
	ch := s.pending
	if ch == nil {
		ch = make(chan struct{})
		s.pending = ch
		wait := s.lastReload.Add(UnknownKIDReloadGap).Sub(s.now())
		go func() {
			if wait > 0 {
				time.Sleep(wait)
			}
			ctx, cancel := context.WithTimeout(context.Background(), reloadWait)
			defer cancel()
			if err := s.Reload(ctx); err != nil && s.log != nil {
				s.log.Warn("reloading the signing keys for an unknown kid failed", "error", err)
			}
			s.mu.Lock()
			s.pending = nil
			s.lastReload = s.now()
			s.mu.Unlock()
			close(ch)
		}()
	}
	s.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(UnknownKIDReloadGap + reloadWait):
	}
}

// Run reloads the keys every interval until ctx ends, first calling
// before (if not nil) — the server revokes retired keys there. Failures
// are logged; the keys in use stay until a reload succeeds.
func (s *KeySet) Run(ctx context.Context, interval time.Duration, before func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if before != nil {
			if err := before(ctx); err != nil && ctx.Err() == nil && s.log != nil {
				s.log.Warn("signing keys housekeeping failed", "error", err)
			}
		}
		if err := s.Reload(ctx); err != nil && ctx.Err() == nil && s.log != nil {
			s.log.Warn("reloading the signing keys failed; keeping the ones loaded", "error", fmt.Sprint(err))
		}
	}
}
