package app

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/config"
	"github.com/gqlauth/gqlauth/internal/datakey"
	"github.com/gqlauth/gqlauth/internal/token"
)

// signingKeysPurpose labels the subkey of DATA_ENCRYPTION_KEY that seals
// the signing keys' private keys.
const signingKeysPurpose = "gqlauth signing keys v1"

// DataKey returns DATA_ENCRYPTION_KEY, or in development (where it may be
// unset) the key kept in a file beside the data, made on the first start:
// for SQLite, the database file's name plus ".data-key"; for PostgreSQL,
// gqlauth.data-key in the working directory. Restarts then open what
// earlier runs sealed. An in-memory SQLite database gets a key of its own
// run. Each case but the first logs a warning.
func DataKey(cfg *config.Config, log *slog.Logger) (*datakey.Key, error) {
	k, err := cfg.DataKey()
	if err != nil || k != nil {
		return k, err
	}
	path, persistent := devKeyPath(cfg.DatabaseURL)
	if !persistent {
		log.Warn("DATA_ENCRYPTION_KEY is not set and the database is in memory: using a key of this run only")
		return datakey.Generate(), nil
	}
	k, created, err := datakey.LoadOrCreate(path)
	if err != nil {
		return nil, fmt.Errorf("DATA_ENCRYPTION_KEY is not set, and %w", err)
	}
	if created {
		log.Warn("DATA_ENCRYPTION_KEY is not set: made a data encryption key and kept it in a file beside the data; set DATA_ENCRYPTION_KEY in production", "file", path)
	} else {
		log.Warn("DATA_ENCRYPTION_KEY is not set: using the data encryption key kept beside the data; set DATA_ENCRYPTION_KEY in production", "file", path)
	}
	return k, nil
}

// devKeyPath is where development keeps its data encryption key, and
// whether the database outlives the process at all.
func devKeyPath(databaseURL string) (path string, persistent bool) {
	var file string
	switch {
	case strings.HasPrefix(databaseURL, "sqlite://"):
		file = strings.TrimPrefix(databaseURL, "sqlite://")
	case strings.HasPrefix(databaseURL, "file:"):
		file = strings.TrimPrefix(databaseURL, "file:")
	default:
		return "gqlauth.data-key", true
	}
	file, query, _ := strings.Cut(file, "?")
	q, _ := url.ParseQuery(query)
	if file == "" || file == ":memory:" || q.Get("mode") == "memory" {
		return "", false
	}
	return file + ".data-key", true
}

// csrfKey is the key that signs the CSRF cookie's values (HMAC-SHA256):
// derived (HKDF-SHA256, under a label of its own) from JWT_ACCESS_SECRET
// when it is set, as before signing keys, so that upgrading keeps open
// browser sessions; else from the data encryption key. Removing
// JWT_ACCESS_SECRET later (after rotating to a new key) makes the CSRF
// values of open sessions invalid once: a browser signs in again.
func csrfKey(cfg *config.Config, dk *datakey.Key) []byte {
	const label = "gqlauth csrf cookie v1"
	if cfg.JWTAccessSecret == "" {
		return dk.Derive(label, 32)
	}
	key, err := hkdf.Key(sha256.New, []byte(cfg.JWTAccessSecret), nil, label, 32)
	if err != nil {
		panic(err) // only for a length beyond 255 hash sizes
	}
	return key
}

// NewKeyStore returns the signing-key store of db, its private keys
// sealed under dk.
func NewKeyStore(db *ent.Client, cfg *config.Config, dk *datakey.Key) *token.KeyStore {
	return token.NewKeyStore(db, dk.Box(signingKeysPurpose), cfg.KeyRetireAfter())
}

// openKeys makes sure a signing key is current (importing
// JWT_ACCESS_SECRET as the legacy key, or making an ES256 key) and loads
// the key set.
func openKeys(ctx context.Context, store *token.KeyStore, cfg *config.Config, log *slog.Logger) (*token.KeySet, error) {
	res, err := store.Bootstrap(ctx, cfg.JWTAccessSecret)
	if err != nil {
		return nil, err
	}
	switch {
	case res.Created != nil && res.Created.Legacy:
		log.Info("imported JWT_ACCESS_SECRET as the current signing key (HS256, legacy); rotate to an asymmetric key when ready (docs/keys.md)", "key", res.Created)
	case res.Created != nil:
		log.Info("made a new current signing key", "key", res.Created)
	}
	if res.LegacyUnused {
		log.Warn("JWT_ACCESS_SECRET is set but signs nothing: the signing keys live in the database, and its key is not (or no longer) there; remove the variable")
	}
	return token.NewKeySet(ctx, store, log)
}

// KeyEvents records the key store's changes in trail, done by actor
// (audit.ActorCLI for `gqlauth keys`, audit.ActorSystem for the server's
// refresh loop). The details name the key (kid and algorithm), never its
// material.
func KeyEvents(trail *audit.Trail, actor string) token.KeyEvents {
	return keyEvents{trail: trail, actor: actor}
}

type keyEvents struct {
	trail *audit.Trail
	actor string
}

func (e keyEvents) KeyChanged(ctx context.Context, tx *ent.Tx, c token.KeyChange) error {
	ev := audit.Event{Actor: e.actor, Details: map[string]any{"kid": c.Key.ID, "alg": string(c.Key.Alg)}}
	switch c.Kind {
	case token.KeyRotated:
		ev.Type = audit.SigningKeyRotated
		if c.Previous != nil {
			ev.Details["previous_kid"] = c.Previous.ID
		}
	case token.KeyRevoked:
		ev.Type = audit.SigningKeyRevoked
		ev.Details["reason"] = "command"
		if c.Retired {
			ev.Details["reason"] = "retired"
		}
	case token.KeyRestored:
		ev.Type = audit.SigningKeyRestored
	case token.KeyDeleted:
		ev.Type = audit.SigningKeyDeleted
	default:
		return fmt.Errorf("unknown key change %d", c.Kind)
	}
	return e.trail.Record(ctx, tx, ev)
}
