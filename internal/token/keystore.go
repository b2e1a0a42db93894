package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/signingkey"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/database"
)

// Sealer encrypts key material at rest; *datakey.Box implements it.
type Sealer interface {
	// Seal encrypts plaintext bound to ad.
	Seal(plaintext, ad []byte) []byte
	// Open decrypts what Seal returned for the same ad.
	Open(sealed, ad []byte) ([]byte, error)
}

// KeyStore keeps the signing keys in the database (the signing_keys
// table), their private keys sealed. It is the one place that changes a
// key's state: the server at start (Bootstrap) and on its refresh loop
// (RevokeRetired), and `gqlauth keys` for the rest.
type KeyStore struct {
	db  *ent.Client
	box Sealer
	// retireAfter is how long a previous key keeps verifying after it
	// stopped signing; then it counts as revoked.
	retireAfter time.Duration
	now         func() time.Time

	// events records each change of a key's state in the change's
	// transaction (the audit trail); nil records nothing.
	events KeyEvents

	mu sync.Mutex
	// material caches the parsed key material by kid: it never changes,
	// so a refresh opens and parses only keys it has not seen.
	material map[string]*Key
}

// NewKeyStore returns the key store of db. retireAfter is how long a
// previous key verifies after it stopped signing; it should be at least
// the access-token lifetime plus Leeway, so that no unexpired token is
// refused by it.
func NewKeyStore(db *ent.Client, box Sealer, retireAfter time.Duration) *KeyStore {
	return &KeyStore{db: db, box: box, retireAfter: retireAfter, now: time.Now, material: map[string]*Key{}}
}

// KeyChange is a change of a signing key's state, for the audit trail.
type KeyChange struct {
	// Kind is KeyRotated, KeyRevoked, KeyRestored or KeyDeleted.
	Kind KeyChangeKind
	// Key is the key that changed: after a rotation, the new current key.
	Key *Key
	// Previous is, after a rotation, the key that signed before (nil for
	// none).
	Previous *Key
	// Retired is set when a revocation is the end of a previous key's
	// retirement period rather than an operator's command.
	Retired bool
}

// KeyChangeKind names a change of KeyChange.
type KeyChangeKind int

// The kinds of KeyChange.
const (
	KeyRotated KeyChangeKind = iota + 1
	KeyRevoked
	KeyRestored
	KeyDeleted
)

// KeyEvents records key changes in the transaction that makes them, so
// that a change and its record commit together (internal/app adapts the
// audit trail to it).
type KeyEvents interface {
	KeyChanged(ctx context.Context, tx *ent.Tx, c KeyChange) error
}

// RecordTo makes s record every change of a key's state to events, and
// returns s.
func (s *KeyStore) RecordTo(events KeyEvents) *KeyStore {
	s.events = events
	return s
}

// record records c in tx, if s records at all.
func (s *KeyStore) record(ctx context.Context, tx *ent.Tx, c KeyChange) error {
	if s.events == nil {
		return nil
	}
	return s.events.KeyChanged(ctx, tx, c)
}

// sealingAD binds a sealed private key to its row: a private key copied
// to another kid does not open.
func sealingAD(kid string) []byte { return []byte("gqlauth signing key " + kid) }

// List returns every key, revoked ones included, oldest first, without
// key material (for `gqlauth keys list`). Previous keys past their
// retirement are shown as revoked, as they are treated.
func (s *KeyStore) List(ctx context.Context) ([]*Key, error) {
	rows, err := s.db.SigningKey.Query().
		Order(ent.Asc(signingkey.FieldCreatedAt), ent.Asc(signingkey.FieldID)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	out := make([]*Key, 0, len(rows))
	for _, r := range rows {
		k := describeRow(r)
		if s.pastRetirement(k) {
			k.State = Revoked
		}
		out = append(out, k)
	}
	return out, nil
}

// SigningKeys returns the keys that sign or verify, with their key
// material: every key but the revoked ones and the previous ones past
// their retirement. It implements KeySource.
func (s *KeyStore) SigningKeys(ctx context.Context) ([]*Key, error) {
	rows, err := s.db.SigningKey.Query().
		Where(signingkey.StateNEQ(signingkey.StateRevoked)).
		Order(ent.Asc(signingkey.FieldCreatedAt), ent.Asc(signingkey.FieldID)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	out := make([]*Key, 0, len(rows))
	for _, r := range rows {
		k := describeRow(r)
		if s.pastRetirement(k) {
			continue
		}
		m, err := s.open(r)
		if err != nil {
			return nil, err
		}
		k.signer, k.verifier, k.jwk = m.signer, m.verifier, m.jwk
		out = append(out, k)
	}
	return out, nil
}

// pastRetirement reports whether a previous key has verified for
// retireAfter since it stopped signing.
func (s *KeyStore) pastRetirement(k *Key) bool {
	return k.State == Previous && !k.RetiredAt.IsZero() && s.now().Sub(k.RetiredAt) >= s.retireAfter
}

// open returns a row's key material, from the cache or by opening and
// parsing its sealed private key.
func (s *KeyStore) open(r *ent.SigningKey) (*Key, error) {
	kid := r.ID.String()
	s.mu.Lock()
	m, ok := s.material[kid]
	s.mu.Unlock()
	if ok {
		return m, nil
	}
	plain, err := s.box.Open(r.PrivateKey, sealingAD(kid))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", kid, err)
	}
	m, err = parsePrivate(kid, Algorithm(r.Algorithm), plain)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.material[kid] = m
	s.mu.Unlock()
	return m, nil
}

// describeRow is a row's metadata as a Key without key material.
func describeRow(r *ent.SigningKey) *Key {
	k := &Key{
		ID:        r.ID.String(),
		Alg:       Algorithm(r.Algorithm),
		State:     State(r.State),
		Legacy:    r.Legacy,
		CreatedAt: r.CreatedAt,
	}
	if r.ActivatedAt != nil {
		k.ActivatedAt = *r.ActivatedAt
	}
	if r.RetiredAt != nil {
		k.RetiredAt = *r.RetiredAt
	}
	if r.RevokedAt != nil {
		k.RevokedAt = *r.RevokedAt
	}
	return k
}

// insert stores k in state k.State.
func (s *KeyStore) insert(ctx context.Context, db *ent.Client, k *Key) error {
	id, err := uuid.Parse(k.ID)
	if err != nil {
		return fmt.Errorf("signing key id %q: %w", k.ID, err)
	}
	material, err := k.marshalPrivate()
	if err != nil {
		return err
	}
	now := s.now()
	c := db.SigningKey.Create().
		SetID(id).
		SetAlgorithm(signingkey.Algorithm(k.Alg)).
		SetState(signingkey.State(k.State)).
		SetLegacy(k.Legacy).
		SetPrivateKey(s.box.Seal(material, sealingAD(k.ID))).
		SetCreatedAt(now)
	if k.jwk != nil {
		c.SetPublicJwk(string(k.jwk))
	}
	if k.State == Current {
		c.SetActivatedAt(now)
	}
	if err := c.Exec(ctx); err != nil {
		return err
	}
	k.CreatedAt = now
	if k.State == Current {
		k.ActivatedAt = now
	}
	return nil
}

// Create makes a new key of algorithm alg in state standby: published
// from now on, signing once rotated to.
func (s *KeyStore) Create(ctx context.Context, alg Algorithm) (*Key, error) {
	k, err := GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	if err := s.insert(ctx, s.db, k); err != nil {
		return nil, fmt.Errorf("store signing key: %w", err)
	}
	return k, nil
}

// BootstrapResult says what Bootstrap did, for the start-up log.
type BootstrapResult struct {
	// Created is the key made current now, if any: the legacy key
	// imported from JWT_ACCESS_SECRET or a new ES256 key.
	Created *Key
	// LegacyUnused reports that JWT_ACCESS_SECRET was given but is not a
	// signing key: another key is current and the secret's key is not
	// (or no longer) in the database.
	LegacyUnused bool
}

// Bootstrap makes sure a key is current, at start. With a legacy secret
// (JWT_ACCESS_SECRET) whose key is not stored yet and no current key,
// that secret becomes the current key (HS256, legacy), so that tokens of
// an existing deployment keep working. With no current key otherwise, a
// new ES256 key becomes current. Instances starting together may race:
// the database admits one current key, and the loser reads the winner's.
func (s *KeyStore) Bootstrap(ctx context.Context, legacySecret string) (BootstrapResult, error) {
	var res BootstrapResult
	for range 3 {
		current, err := s.db.SigningKey.Query().Where(signingkey.StateEQ(signingkey.StateCurrent)).Exist(ctx)
		if err != nil {
			return res, fmt.Errorf("read signing keys: %w", err)
		}
		var legacy *Key
		if legacySecret != "" {
			legacy = LegacyKey(legacySecret)
			stored, err := s.db.SigningKey.Query().Where(signingkey.ID(uuid.MustParse(legacy.ID))).Exist(ctx)
			if err != nil {
				return res, fmt.Errorf("read signing keys: %w", err)
			}
			res.LegacyUnused = current && !stored
			if stored {
				legacy = nil
			}
		}
		if current {
			return res, nil
		}
		k := legacy
		if k == nil {
			if k, err = GenerateKey(ES256); err != nil {
				return res, err
			}
			k.State = Current
		}
		err = s.insert(ctx, s.db, k)
		if ent.IsConstraintError(err) {
			continue // another instance made its key current first
		}
		if err != nil {
			return res, fmt.Errorf("store signing key: %w", err)
		}
		res.Created = k
		return res, nil
	}
	return res, errors.New("store signing key: the current key keeps changing; try again")
}

// RotateOptions are the choices of `gqlauth keys rotate`.
type RotateOptions struct {
	// KID names the key to make current (a standby or a previous one);
	// empty means the newest standby key.
	KID string
	// Alg is the algorithm of the standby key made when there is none.
	Alg Algorithm
	// MinPublished is how long a standby key must have been published
	// before it may sign (JWKS_MAX_AGE: until then, verifiers may hold a
	// cached JWKS without it).
	MinPublished time.Duration
	// Force rotates to a standby key published for less than MinPublished.
	Force bool
}

// RotateResult is what a rotation did.
type RotateResult struct {
	// Current is the key that signs now; nil when the rotation stopped
	// after creating a standby key.
	Current *Key
	// Previous is the key that signed before; nil when there was none.
	Previous *Key
	// Created is the standby key made because there was none.
	Created *Key
}

// ErrTooSoon is returned by Rotate when the standby key has been
// published for less than RotateOptions.MinPublished.
var ErrTooSoon = errors.New("the standby key has not been published long enough")

// Rotate makes a key current and the current one previous: the key
// opts.KID names, or else the newest standby key. With no standby key, it
// makes one first. A standby key published for less than
// opts.MinPublished is refused (ErrTooSoon, with the result naming it)
// unless opts.Force is set, since verifiers that cached the JWKS before
// it was published would refuse its tokens.
func (s *KeyStore) Rotate(ctx context.Context, opts RotateOptions) (RotateResult, error) {
	var res RotateResult
	var target *ent.SigningKey
	var err error
	switch {
	case opts.KID != "":
		if target, err = s.row(ctx, opts.KID); err != nil {
			return res, err
		}
		switch State(target.State) {
		case Standby, Previous:
		case Current:
			return res, apierr.New(apierr.Conflict, fmt.Sprintf("key %s is already current", opts.KID))
		default:
			return res, apierr.New(apierr.Conflict, fmt.Sprintf("key %s is %s: restore it first (gqlauth keys restore %s)", opts.KID, target.State, opts.KID))
		}
		if k := describeRow(target); s.pastRetirement(k) {
			return res, apierr.New(apierr.Conflict, fmt.Sprintf("key %s is past its retirement (treated as revoked): restore it first (gqlauth keys restore %s)", opts.KID, opts.KID))
		}
	default:
		target, err = s.db.SigningKey.Query().
			Where(signingkey.StateEQ(signingkey.StateStandby)).
			Order(ent.Desc(signingkey.FieldCreatedAt), ent.Desc(signingkey.FieldID)).
			First(ctx)
		if ent.IsNotFound(err) {
			alg := opts.Alg
			if alg == "" {
				alg = ES256
			}
			if res.Created, err = s.Create(ctx, alg); err != nil {
				return res, err
			}
			target, err = s.row(ctx, res.Created.ID)
		}
		if err != nil {
			return res, fmt.Errorf("read signing keys: %w", err)
		}
	}
	if State(target.State) == Standby && !opts.Force {
		if published := s.now().Sub(target.CreatedAt); published < opts.MinPublished {
			return res, fmt.Errorf("%w: key %s was published %s ago; rotate after %s (JWKS_MAX_AGE is %s), or pass --force",
				ErrTooSoon, target.ID, published.Round(time.Second), target.CreatedAt.Add(opts.MinPublished).Format(time.RFC3339), opts.MinPublished)
		}
	}
	now := s.now()
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		old, err := tx.SigningKey.Query().Where(signingkey.StateEQ(signingkey.StateCurrent)).Only(ctx)
		switch {
		case ent.IsNotFound(err):
		case err != nil:
			return err
		default:
			n, err := tx.SigningKey.Update().
				Where(signingkey.ID(old.ID), signingkey.StateEQ(signingkey.StateCurrent)).
				SetState(signingkey.StatePrevious).SetRetiredAt(now).Save(ctx)
			if err != nil {
				return err
			}
			if n != 1 {
				return errConcurrentChange
			}
			res.Previous = describeRow(old)
			res.Previous.State, res.Previous.RetiredAt = Previous, now
		}
		n, err := tx.SigningKey.Update().
			Where(signingkey.ID(target.ID), signingkey.StateEQ(target.State)).
			SetState(signingkey.StateCurrent).SetActivatedAt(now).ClearRevokedAt().Save(ctx)
		if err != nil {
			return err
		}
		if n != 1 {
			return errConcurrentChange
		}
		res.Current = describeRow(target)
		res.Current.State, res.Current.ActivatedAt = Current, now
		return s.record(ctx, tx, KeyChange{Kind: KeyRotated, Key: res.Current, Previous: res.Previous})
	})
	if ent.IsConstraintError(err) {
		err = errConcurrentChange
	}
	if err != nil {
		return RotateResult{Created: res.Created}, keyError("rotate", err)
	}
	return res, nil
}

// errConcurrentChange is returned when another command changed the keys
// during a change.
var errConcurrentChange = apierr.New(apierr.Conflict, "the signing keys changed meanwhile (another command?); try again")

// Revoke revokes a standby or previous key: it leaves the JWKS, and every
// instance refuses its tokens within JWT_KEYS_REFRESH_INTERVAL. The
// current key cannot be revoked; rotate away from it first.
func (s *KeyStore) Revoke(ctx context.Context, kid string) (*Key, error) {
	return s.transition(ctx, kid, Revoked, map[State]string{
		Current: "key %s is current: rotate to another key first (gqlauth keys rotate), then revoke it",
		Revoked: "key %s is already revoked",
	})
}

// Restore undoes a revocation: the key becomes previous again (published,
// verifying) for another retirement period.
func (s *KeyStore) Restore(ctx context.Context, kid string) (*Key, error) {
	k, err := s.row(ctx, kid)
	if err != nil {
		return nil, err
	}
	if d := describeRow(k); State(k.State) == Previous && s.pastRetirement(d) {
		// Past its retirement it counts as revoked: restart the period.
		return s.update(ctx, k, Previous)
	}
	return s.transition(ctx, kid, Previous, map[State]string{
		Standby:  "key %s is not revoked (it is standby)",
		Current:  "key %s is not revoked (it is current)",
		Previous: "key %s is not revoked (it is previous)",
	})
}

// transition moves kid to state to, refusing the states listed with
// their message.
func (s *KeyStore) transition(ctx context.Context, kid string, to State, refuse map[State]string) (*Key, error) {
	r, err := s.row(ctx, kid)
	if err != nil {
		return nil, err
	}
	if msg, ok := refuse[State(r.State)]; ok {
		return nil, apierr.New(apierr.Conflict, fmt.Sprintf(msg, kid))
	}
	return s.update(ctx, r, to)
}

// update sets r's state to to, if r is still in the state it was read in.
func (s *KeyStore) update(ctx context.Context, r *ent.SigningKey, to State) (*Key, error) {
	now := s.now()
	k := describeRow(r)
	k.State = to
	change := KeyChange{Kind: KeyRevoked, Key: k}
	switch to {
	case Revoked:
		k.RevokedAt = now
	case Previous:
		k.RevokedAt, k.RetiredAt = time.Time{}, now
		change.Kind = KeyRestored
	}
	err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		u := tx.SigningKey.Update().
			Where(signingkey.ID(r.ID), signingkey.StateEQ(r.State)).
			SetState(signingkey.State(to))
		switch to {
		case Revoked:
			u.SetRevokedAt(now)
		case Previous:
			u.ClearRevokedAt().SetRetiredAt(now)
		}
		n, err := u.Save(ctx)
		if err != nil {
			return err
		}
		if n != 1 {
			return errConcurrentChange
		}
		return s.record(ctx, tx, change)
	})
	if err != nil {
		return nil, keyError("update signing key", err)
	}
	return k, nil
}

// Delete removes a standby or revoked key for good: this alone cannot
// be undone. Current and previous keys are refused (revoke them first).
func (s *KeyStore) Delete(ctx context.Context, kid string) error {
	r, err := s.row(ctx, kid)
	if err != nil {
		return err
	}
	if st := State(r.State); (st == Current || st == Previous) && !s.pastRetirement(describeRow(r)) {
		return apierr.New(apierr.Conflict, fmt.Sprintf("key %s is %s: it still verifies tokens; revoke it first (gqlauth keys revoke %s)", kid, st, kid))
	}
	err = database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		n, err := tx.SigningKey.Delete().Where(signingkey.ID(r.ID), signingkey.StateEQ(r.State)).Exec(ctx)
		if err != nil {
			return err
		}
		if n != 1 {
			return errConcurrentChange
		}
		return s.record(ctx, tx, KeyChange{Kind: KeyDeleted, Key: describeRow(r)})
	})
	if err != nil {
		return keyError("delete signing key", err)
	}
	s.mu.Lock()
	delete(s.material, kid)
	s.mu.Unlock()
	return nil
}

// RevokeRetired records as revoked the previous keys past their
// retirement (they are already treated so); the refresh loop of every
// instance calls it, and which one writes first does not matter.
func (s *KeyStore) RevokeRetired(ctx context.Context) (int, error) {
	now := s.now()
	retired, err := s.db.SigningKey.Query().
		Where(signingkey.StateEQ(signingkey.StatePrevious), signingkey.RetiredAtLTE(now.Add(-s.retireAfter))).
		All(ctx)
	if err != nil {
		return 0, fmt.Errorf("revoke retired signing keys: %w", err)
	}
	revoked := 0
	for _, r := range retired {
		err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
			n, err := tx.SigningKey.Update().
				Where(signingkey.ID(r.ID), signingkey.StateEQ(signingkey.StatePrevious)).
				SetState(signingkey.StateRevoked).SetRevokedAt(now).
				Save(ctx)
			if err != nil || n == 0 {
				return err // n == 0: another instance was first
			}
			revoked++
			k := describeRow(r)
			k.State, k.RevokedAt = Revoked, now
			return s.record(ctx, tx, KeyChange{Kind: KeyRevoked, Key: k, Retired: true})
		})
		if err != nil {
			return revoked, fmt.Errorf("revoke retired signing key %s: %w", r.ID, err)
		}
	}
	return revoked, nil
}

// row reads the key kid, or NOT_FOUND.
func (s *KeyStore) row(ctx context.Context, kid string) (*ent.SigningKey, error) {
	id, err := uuid.Parse(kid)
	if err != nil {
		return nil, apierr.New(apierr.NotFound, fmt.Sprintf("no signing key %q (kids are UUIDs; see gqlauth keys list)", kid))
	}
	r, err := s.db.SigningKey.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apierr.New(apierr.NotFound, fmt.Sprintf("no signing key %s (see gqlauth keys list)", kid))
	}
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	return r, nil
}

// keyError passes apierr errors on and wraps the rest.
func keyError(what string, err error) error {
	var e *apierr.Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}
