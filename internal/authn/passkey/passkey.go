// Package passkey is the passkey (WebAuthn) credential: the registration
// and sign-in ceremonies through go-webauthn, the conversion between a
// PASSKEY factor and a WebAuthn credential, and the challenges waiting for
// the browser (in Redis, else in the database: challenges.go). Which
// session a ceremony starts or steps up is internal/authn's concern.
package passkey

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/factor"
	"github.com/gqlauth/gqlauth/internal/apierr"
)

// ChallengeTTL is how long a ceremony waits for the browser's answer.
const ChallengeTTL = 5 * time.Minute

// Settings are the relying party of the configuration.
type Settings struct {
	// RPID is WEBAUTHN_RP_ID: the domain passkeys are bound to.
	RPID string
	// RPName is WEBAUTHN_RP_NAME, shown by authenticators.
	RPName string
	// Origins are WEBAUTHN_ORIGINS, compared exactly with the origin the
	// browser signed.
	Origins []string
}

// Kinds of ceremony.
const (
	kindRegistration = "registration"
	kindSignIn       = "sign_in"
)

// Pending is a ceremony waiting for the browser's answer, as stored: the
// challenge and what it is bound to.
type Pending struct {
	Kind string `json:"kind"`
	// SessionID is the session that asked to register a passkey, or to
	// step up with one (zero for a sign-in without a session).
	SessionID uuid.UUID `json:"sid,omitzero"`
	// UserID is the user registering, or the account a sign-in by
	// identifier named (zero for an unknown account or a discoverable
	// sign-in).
	UserID uuid.UUID `json:"uid,omitzero"`
	// Identified is set for a sign-in that named an account: only that
	// account's passkeys may answer it.
	Identified bool `json:"identified,omitempty"`
	// FriendlyName is the name asked for the new passkey.
	FriendlyName *string   `json:"name,omitempty"`
	Expires      time.Time `json:"exp"`
	// Session is go-webauthn's state of the ceremony.
	Session webauthn.SessionData `json:"session"`
}

// Ceremonies runs WebAuthn ceremonies for one relying party.
type Ceremonies struct {
	w     *webauthn.WebAuthn
	store Challenges
	clock atomic.Pointer[func() time.Time]
}

// New returns the ceremonies of set, keeping challenges in store.
func New(set Settings, store Challenges) (*Ceremonies, error) {
	w, err := webauthn.New(&webauthn.Config{
		RPID:          set.RPID,
		RPDisplayName: set.RPName,
		RPOrigins:     set.Origins,
		// Passkeys: the authenticator keeps the credential (so a sign-in
		// needs no identifier) when it can, and must verify the user at
		// registration as at sign-in (BeginSignIn): a passkey registered
		// without it could never sign in nor step up, and would leave its
		// user due to step up with nothing that can.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationRequired,
		},
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn settings: %w", err)
	}
	c := &Ceremonies{w: w, store: store}
	c.SetClock(time.Now)
	return c, nil
}

// SetClock sets the time expiry is read from (tests move it on).
func (c *Ceremonies) SetClock(now func() time.Time) { c.clock.Store(&now) }

func (c *Ceremonies) now() time.Time { return (*c.clock.Load())() }

// Account is a user and its passkeys, as go-webauthn sees them.
type Account struct {
	User     *ent.User
	Passkeys []*ent.Factor
}

// WebAuthnID is the user handle: the user's id, 16 bytes, nothing
// personal.
func (a Account) WebAuthnID() []byte { id := a.User.ID; return id[:] }

// WebAuthnName is the account name an authenticator shows.
func (a Account) WebAuthnName() string {
	switch {
	case a.User.Email != nil:
		return *a.User.Email
	case a.User.Username != nil:
		return *a.User.Username
	}
	return a.User.ID.String()
}

// WebAuthnDisplayName is the person's name, else the account name.
func (a Account) WebAuthnDisplayName() string {
	if a.User.FirstName != nil && *a.User.FirstName != "" {
		return *a.User.FirstName
	}
	return a.WebAuthnName()
}

// WebAuthnCredentials are the account's passkeys.
func (a Account) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(a.Passkeys))
	for _, f := range a.Passkeys {
		out = append(out, Credential(f))
	}
	return out
}

// Credential is the WebAuthn credential a PASSKEY factor stores.
func Credential(f *ent.Factor) webauthn.Credential {
	c := webauthn.Credential{
		PublicKey:       f.PublicKey,
		AttestationType: f.AttestationType,
		Flags:           webauthn.CredentialFlags{UserPresent: true, BackupEligible: f.BackupEligible, BackupState: f.BackedUp},
		Authenticator:   webauthn.Authenticator{AAGUID: f.Aaguid, SignCount: uint32(f.SignCount)},
	}
	if f.CredentialID != nil {
		c.ID = *f.CredentialID
	}
	for _, t := range f.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// CredentialID is a credential id as the browser spells it (base64url).
func CredentialID(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

// Errors of the ceremonies: what the client sees. The cause is logged by
// the caller, never shown.
var (
	// ErrChallenge refuses an unknown, spent, expired or foreign challenge.
	ErrChallenge = &apierr.Error{Code: apierr.BadUserInput, Message: "the passkey challenge is unknown, used or expired: begin again",
		Fields: map[string]string{"challengeId": "is unknown, used or expired"}}
	// ErrCredential refuses a browser answer that does not verify.
	ErrCredential = &apierr.Error{Code: apierr.BadUserInput, Message: "the passkey answer does not verify",
		Fields: map[string]string{"credential": "does not verify"}}
	// ErrSignIn refuses a sign-in by passkey, whatever the reason.
	ErrSignIn = apierr.New(apierr.Unauthenticated, "the passkey was not accepted")
)

// options is the browser's options member as a JSON object.
func options(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func (c *Ceremonies) put(ctx context.Context, p Pending) (uuid.UUID, error) {
	p.Expires = c.now().Add(ChallengeTTL)
	b, err := json.Marshal(p)
	if err != nil {
		return uuid.Nil, err
	}
	id := uuid.New()
	if err := c.store.Put(ctx, id, b, ChallengeTTL); err != nil {
		return uuid.Nil, apierr.Wrap(apierr.ServiceUnavailable, "passkeys are unavailable; try again later", err)
	}
	return id, nil
}

// take spends challenge id of kind: ErrChallenge when there is none, it
// was spent, it expired or is of another kind.
func (c *Ceremonies) take(ctx context.Context, id uuid.UUID, kind string) (Pending, error) {
	b, err := c.store.Take(ctx, id)
	if err != nil {
		return Pending{}, apierr.Wrap(apierr.ServiceUnavailable, "passkeys are unavailable; try again later", err)
	}
	var p Pending
	if b == nil || json.Unmarshal(b, &p) != nil || p.Kind != kind || !c.now().Before(p.Expires) {
		return Pending{}, ErrChallenge
	}
	return p, nil
}

// BeginRegistration starts registering a passkey for acc from session
// sid: its options exclude the passkeys acc already has.
func (c *Ceremonies) BeginRegistration(ctx context.Context, acc Account, sid uuid.UUID, name *string) (uuid.UUID, map[string]any, error) {
	creds := acc.WebAuthnCredentials()
	creation, sess, err := c.w.BeginRegistration(acc,
		webauthn.WithExclusions(webauthn.Credentials(creds).CredentialDescriptors()))
	if err != nil {
		return uuid.Nil, nil, fmt.Errorf("begin registration: %w", err)
	}
	opts, err := options(creation.Response)
	if err != nil {
		return uuid.Nil, nil, err
	}
	id, err := c.put(ctx, Pending{Kind: kindRegistration, SessionID: sid, UserID: acc.User.ID, FriendlyName: name, Session: *sess})
	return id, opts, err
}

// FinishRegistration checks the browser's answer to challenge id, which
// session sid of acc's user must have asked for. It returns the new
// credential and the name asked for it.
func (c *Ceremonies) FinishRegistration(ctx context.Context, id uuid.UUID, acc Account, sid uuid.UUID, answer []byte) (*webauthn.Credential, *string, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(answer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCredential, err)
	}
	p, err := c.take(ctx, id, kindRegistration)
	if err != nil {
		return nil, nil, err
	}
	if p.SessionID != sid || p.UserID != acc.User.ID {
		return nil, nil, ErrChallenge
	}
	cred, err := c.w.CreateCredential(acc, p.Session, parsed)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCredential, err)
	}
	return cred, p.FriendlyName, nil
}

// BeginSignIn starts a sign-in, or the step-up of session sid (zero for
// none). acc is the account an identifier or the session named (nil when
// unknown, or for a discoverable sign-in: identified false); its passkeys
// are the allowed credentials. An unknown account's options have the
// shape of those of an account without passkeys. User verification is
// required.
func (c *Ceremonies) BeginSignIn(ctx context.Context, acc *Account, identified bool, sid uuid.UUID) (uuid.UUID, map[string]any, error) {
	var allowed []protocol.CredentialDescriptor
	p := Pending{Kind: kindSignIn, Identified: identified, SessionID: sid}
	if acc != nil {
		allowed = webauthn.Credentials(acc.WebAuthnCredentials()).CredentialDescriptors()
		p.UserID = acc.User.ID
	}
	assertion, sess, err := c.w.BeginDiscoverableLogin(
		webauthn.WithAllowedCredentials(allowed),
		webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return uuid.Nil, nil, fmt.Errorf("begin sign-in: %w", err)
	}
	opts, err := options(assertion.Response)
	if err != nil {
		return uuid.Nil, nil, err
	}
	p.Session = *sess
	id, err := c.put(ctx, p)
	return id, opts, err
}

// Assertion is a parsed sign-in answer and its spent challenge.
type Assertion struct {
	pending Pending
	parsed  *protocol.ParsedCredentialAssertionData
}

// CredentialID is the id of the passkey that answered.
func (a Assertion) CredentialID() []byte { return a.parsed.RawID }

// SessionID is the session whose step-up the challenge is for (zero for
// a sign-in without a session).
func (a Assertion) SessionID() uuid.UUID { return a.pending.SessionID }

// For reports whether the challenge allows userID's passkeys: any user's
// for a discoverable sign-in, else only the named account's.
func (a Assertion) For(userID uuid.UUID) bool {
	return !a.pending.Identified || a.pending.UserID == userID
}

// TakeSignIn parses the browser's answer and spends challenge id.
func (c *Ceremonies) TakeSignIn(ctx context.Context, id uuid.UUID, answer []byte) (Assertion, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(answer)
	if err != nil {
		return Assertion{}, fmt.Errorf("%w: %w", ErrCredential, err)
	}
	p, err := c.take(ctx, id, kindSignIn)
	if err != nil {
		return Assertion{}, err
	}
	return Assertion{pending: p, parsed: parsed}, nil
}

// ErrCounter is a signature counter that did not increase: the passkey
// may have been cloned.
var ErrCounter = errors.New("passkey signature counter did not increase")

// VerifySignIn checks a's signature with acc's passkey: origin, RP id,
// challenge, user verification, flags, and the signature counter
// (ErrCounter when it keeps one and it did not increase). It returns the
// credential as updated by the sign-in.
func (c *Ceremonies) VerifySignIn(acc Account, a Assertion) (*webauthn.Credential, error) {
	sess := a.pending.Session
	sess.UserID = acc.WebAuthnID()
	cred, err := c.w.ValidateLogin(acc, sess, a.parsed)
	if err != nil {
		return nil, err
	}
	if cred.Authenticator.CloneWarning {
		return cred, ErrCounter
	}
	return cred, nil
}

// Passkeys is the query of a user's verified passkeys.
func Passkeys(ctx context.Context, db *ent.Client, userID uuid.UUID) ([]*ent.Factor, error) {
	return db.Factor.Query().Where(factor.UserID(userID), factor.TypeEQ(factor.TypePASSKEY),
		factor.StatusEQ(factor.StatusVERIFIED)).Order(factor.ByCreatedAt(), factor.ByID()).All(ctx)
}
