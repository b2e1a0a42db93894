package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/factor"
	"github.com/gqlauth/gqlauth/ent/schema"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/authn/passkey"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/session"
	"github.com/gqlauth/gqlauth/internal/validate"
)

// Passkeys is the passkey flows: registering a passkey as a factor, and
// signing in with one, which starts an AAL2 session or steps the caller's
// AAL1 session up (the step-up of verifyMfa, through MFA.prove). The
// WebAuthn ceremonies are internal/authn/passkey's.
type Passkeys struct {
	mfa        *MFA
	ceremonies *passkey.Ceremonies
	metrics    Recorder
	// Verification, when set, refuses a new session to an account whose
	// address is not verified yet, as a password sign-in does
	// (EMAIL_VERIFICATION=required).
	Verification EmailVerification
}

// NewPasskeys returns the passkey flows of mfa's service, with c's
// ceremonies; metrics (nil: none) counts sign-ins as SignIns does.
func NewPasskeys(mfa *MFA, c *passkey.Ceremonies, metrics Recorder) *Passkeys {
	if metrics == nil {
		metrics = nopRecorder{}
	}
	return &Passkeys{mfa: mfa, ceremonies: c, metrics: metrics}
}

// Ceremonies are the WebAuthn ceremonies (tests move their clock).
func (p *Passkeys) Ceremonies() *passkey.Ceremonies { return p.ceremonies }

// Challenge is what a begin mutation answers: the ceremony's id and the
// options for the browser.
type Challenge struct {
	ID      uuid.UUID
	Options map[string]any
}

// account is userID's account with its verified passkeys.
func (p *Passkeys) account(ctx context.Context, db *ent.Client, u *ent.User) (passkey.Account, error) {
	keys, err := passkey.Passkeys(ctx, db, u.ID)
	return passkey.Account{User: u, Passkeys: keys}, err
}

// BeginRegistration starts registering a passkey for the viewer, under
// the rules of every enrollment (a recent sign-in; AAL2 when the viewer
// has a verified factor; at most MaxFactors).
func (p *Passkeys) BeginRegistration(ctx context.Context, friendlyName *string) (*Challenge, error) {
	m := p.mfa
	v, name, err := m.enrollment(ctx, friendlyName)
	if err != nil {
		return nil, err
	}
	var acc passkey.Account
	err = database.WithTx(ctx, m.d.DB, func(tx *ent.Tx) error {
		u, err := m.mayEnroll(ctx, tx, v)
		if err != nil {
			return err
		}
		acc, err = p.account(ctx, tx.Client(), u)
		return err
	})
	if err != nil {
		return nil, err
	}
	id, opts, err := p.ceremonies.BeginRegistration(ctx, acc, v.SessionID, name)
	if err != nil {
		return nil, err
	}
	return &Challenge{ID: id, Options: opts}, nil
}

// FinishRegistration stores the passkey the browser made for challenge
// id, which must be the viewer's session's, as a VERIFIED factor. The
// authenticator verified the user, so the session becomes AAL2 (as a
// TOTP enrollment makes it).
func (p *Passkeys) FinishRegistration(ctx context.Context, id uuid.UUID, answer map[string]any) (*ent.Factor, error) {
	m := p.mfa
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(answer)
	if err != nil {
		return nil, passkey.ErrCredential
	}
	u, err := m.d.DB.User.Get(ctx, v.UserID)
	if ent.IsNotFound(err) {
		return nil, apierr.ErrNoViewer
	}
	if err != nil {
		return nil, err
	}
	acc, err := p.account(ctx, m.d.DB, u)
	if err != nil {
		return nil, err
	}
	cred, name, err := p.ceremonies.FinishRegistration(ctx, id, acc, v.SessionID, raw)
	if err != nil {
		m.d.Log.InfoContext(ctx, "passkey registration refused", "error", err, "user_id", v.UserID)
		return nil, err
	}
	var f *ent.Factor
	err = database.WithTx(ctx, m.d.DB, func(tx *ent.Tx) error {
		if _, err := m.mayEnroll(ctx, tx, v); err != nil {
			return err
		}
		transports := make([]string, 0, len(cred.Transport))
		for _, t := range cred.Transport {
			transports = append(transports, string(t))
		}
		f, err = tx.Factor.Create().SetID(schema.NewID()).SetUserID(u.ID).SetType(factor.TypePASSKEY).
			SetNillableFriendlyName(name).SetStatus(factor.StatusVERIFIED).
			SetCredentialID(cred.ID).SetPublicKey(cred.PublicKey).SetSignCount(int64(cred.Authenticator.SignCount)).
			SetAaguid(cred.Authenticator.AAGUID).SetTransports(transports).SetAttestationType(cred.AttestationType).
			SetBackupEligible(cred.Flags.BackupEligible).SetBackedUp(cred.Flags.BackupState).
			SetCreatedAt(m.now()).Save(ctx)
		if ent.IsConstraintError(err) {
			return &apierr.Error{Code: apierr.Conflict, Message: "this passkey is registered already",
				Fields: map[string]string{"credential": "is registered already"}}
		}
		if err != nil {
			return fmt.Errorf("store passkey: %w", err)
		}
		// The ceremony required user verification: the session is AAL2.
		if _, err := m.d.Sessions.Record(ctx, tx, v.UserID, v.SessionID, passkeyProof(f, true)); err != nil {
			return err
		}
		return m.d.Audit.Record(ctx, tx, audit.Event{Type: audit.FactorEnrolled, UserID: v.UserID, SessionID: v.SessionID,
			Details: map[string]any{"factor_id": f.ID.String(), "factor_type": string(f.Type), "backup_eligible": f.BackupEligible}})
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// passkeyProof is what a passkey with user verification proves: hwk for
// a device-bound passkey, swk for one that may be synced (backup
// eligible), and user; stepUp adds mfa, for a session that had proved
// another factor (a password) before.
func passkeyProof(f *ent.Factor, stepUp bool) session.Proof {
	method := session.MethodHardwareKey
	if f.BackupEligible {
		method = session.MethodSoftwareKey
	}
	p := session.Proof{AAL: 2, Methods: []string{method, session.MethodUser}}
	if stepUp {
		p.Methods = append(p.Methods, session.MethodMFA)
	}
	return p
}

// BeginSignIn starts a passkey sign-in: discoverable without an
// identifier, else limited to the named account's passkeys. An unknown
// account gets options of the same shape as an account without passkeys.
// With an access token it starts that session's step-up: limited to its
// user's passkeys, and only that session may finish it.
func (p *Passkeys) BeginSignIn(ctx context.Context, email, username *string) (*Challenge, error) {
	v, err := policy.OptionalViewer(ctx)
	if err != nil {
		return nil, err
	}
	var (
		u          *ent.User
		identified = email != nil || username != nil || v != nil
		sid        uuid.UUID
	)
	switch {
	case v != nil:
		// A step-up: the session's own user, whatever identifier came
		// with it, and the challenge is the session's.
		sid = v.SessionID
		if u, err = p.mfa.d.DB.User.Get(ctx, v.UserID); err != nil {
			return nil, err
		}
	case identified:
		errs := validate.Errors{}
		id := validate.SignInIdentifier(errs, email, username)
		if err := errs.Err(); err != nil {
			return nil, err
		}
		if u, err = findAccount(ctx, p.mfa.d.DB, id); err != nil {
			return nil, err
		}
	}
	var acc *passkey.Account
	switch {
	case u != nil:
		a, err := p.account(ctx, p.mfa.d.DB, u)
		if err != nil {
			return nil, err
		}
		acc = &a
	case identified:
		// An unknown account runs the passkeys query too (of nobody), so
		// that the time of the answer does not tell it from an account
		// without passkeys, as the options do not.
		if _, err := passkey.Passkeys(ctx, p.mfa.d.DB, uuid.Nil); err != nil {
			return nil, err
		}
	}
	id, opts, err := p.ceremonies.BeginSignIn(ctx, acc, identified, sid)
	if err != nil {
		return nil, err
	}
	return &Challenge{ID: id, Options: opts}, nil
}

// FinishSignIn checks the browser's answer to challenge id. Without an
// access token it starts an AAL2 session of the passkey's user; with the
// AAL1 (or AAL2) token of that same user it steps that session up and
// renews its auth time instead. Every refusal after the challenge is
// spent counts as a failed sign-in of the passkey's user (the lockout,
// metrics, user.sign_in_failed); a counter that did not increase also
// records factor.passkey.clone_suspected.
func (p *Passkeys) FinishSignIn(ctx context.Context, id uuid.UUID, answer map[string]any) (*session.Tokens, error) {
	t, err := p.finishSignIn(ctx, id, answer)
	countSignIn(p.metrics, err)
	return t, err
}

func (p *Passkeys) finishSignIn(ctx context.Context, id uuid.UUID, answer map[string]any) (*session.Tokens, error) {
	m := p.mfa
	v, err := policy.OptionalViewer(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(answer)
	if err != nil {
		return nil, passkey.ErrCredential
	}
	a, err := p.ceremonies.TakeSignIn(ctx, id, raw)
	if err != nil {
		return nil, err
	}
	// A step-up's challenge is its session's; a sign-in's is nobody's.
	var sid uuid.UUID
	if v != nil {
		sid = v.SessionID
	}
	if a.SessionID() != sid {
		return nil, passkey.ErrChallenge
	}
	f, err := m.d.DB.Factor.Query().Where(factor.CredentialID(a.CredentialID()), factor.TypeEQ(factor.TypePASSKEY),
		factor.StatusEQ(factor.StatusVERIFIED)).Only(ctx)
	if ent.IsNotFound(err) {
		m.d.Audit.RecordAlone(ctx, audit.Event{Type: audit.UserSignInFailed, Details: map[string]any{"reason": "unknown_passkey", "method": "passkey"}})
		return nil, passkey.ErrSignIn
	}
	if err != nil {
		return nil, err
	}
	refuse := func(reason string, cause error) error {
		m.d.Log.InfoContext(ctx, "passkey sign-in refused", "reason", reason, "error", cause, "user_id", f.UserID, "factor_id", f.ID)
		m.d.Audit.RecordAlone(ctx, audit.Event{Type: audit.UserSignInFailed, UserID: f.UserID,
			Details: map[string]any{"reason": reason, "method": "passkey", "factor_id": f.ID.String()}})
		return passkey.ErrSignIn
	}
	if !a.For(f.UserID) {
		return nil, refuse("other_account", nil)
	}
	if v != nil && v.UserID != f.UserID {
		return nil, refuse("other_account", nil)
	}
	u, err := m.d.DB.User.Get(ctx, f.UserID)
	if err != nil {
		return nil, err
	}
	if err := m.d.Passwords.Attempt(ctx, u, ""); err != nil {
		if apierr.CodeOf(err) == apierr.TooManyRequests {
			m.d.Audit.RecordAlone(ctx, audit.Event{Type: audit.UserLockedOut, UserID: u.ID})
		}
		return nil, err
	}
	acc, err := p.account(ctx, m.d.DB, u)
	if err != nil {
		return nil, err
	}
	cred, err := p.ceremonies.VerifySignIn(acc, a)
	if errors.Is(err, passkey.ErrCounter) {
		m.d.Log.WarnContext(ctx, "passkey signature counter did not increase: possible clone; sign-in refused",
			"user_id", u.ID, "factor_id", f.ID, "stored", f.SignCount, "presented", cred.Authenticator.SignCount)
		m.d.Audit.RecordAlone(ctx, audit.Event{Type: audit.PasskeyCloneSuspected, UserID: u.ID,
			Details: map[string]any{"factor_id": f.ID.String(), "stored_count": f.SignCount}})
		return nil, refuse("counter", err)
	}
	if err != nil {
		return nil, refuse("verification", err)
	}
	// spend stores what the sign-in changed: the counter (the
	// conditional UPDATE spends it once: of two answers with the same
	// counter, one signs in), the backup state, the time of use.
	spend := func(tx *ent.Tx) error {
		n, err := tx.Factor.Update().Where(factor.ID(f.ID), factor.SignCount(f.SignCount)).
			SetSignCount(int64(cred.Authenticator.SignCount)).SetBackedUp(cred.Flags.BackupState).
			SetLastUsedAt(m.now()).Save(ctx)
		if err != nil {
			return fmt.Errorf("update passkey: %w", err)
		}
		if n != 1 {
			return passkey.ErrSignIn
		}
		return nil
	}
	var t *session.Tokens
	if v != nil {
		// The step-up of verifyMfa, with a passkey for the code.
		t, err = m.prove(ctx, v, passkeyProof(f, true), func(tx *ent.Tx, u *ent.User) error {
			if err := spend(tx); err != nil {
				return err
			}
			return m.d.Audit.Record(ctx, tx, audit.Event{Type: audit.MFAVerified, UserID: u.ID, SessionID: v.SessionID,
				Details: map[string]any{"method": "passkey", "factor_id": f.ID.String()}})
		})
	} else {
		if p.Verification != nil && p.Verification.Required() && u.Email != nil && u.EmailVerifiedAt == nil {
			// The passkey matched: not a failed sign-in.
			m.d.Passwords.Succeeded(ctx, u)
			if err := p.Verification.Resend(ctx, u); err != nil {
				return nil, err
			}
			return nil, errEmailNotVerified
		}
		var is session.Issued
		err = database.WithTx(ctx, m.d.DB, func(tx *ent.Tx) error {
			if err := spend(tx); err != nil {
				return err
			}
			if is, err = m.d.Sessions.StartProved(ctx, tx, u, passkeyProof(f, false)); err != nil {
				return err
			}
			return m.d.Audit.Record(ctx, tx, audit.Event{Type: audit.UserSignedIn, UserID: u.ID, SessionID: is.SessionID(),
				Details: map[string]any{"method": "passkey", "factor_id": f.ID.String()}})
		})
		if err == nil {
			t, err = m.d.Sessions.HandOut(is)
		}
	}
	if err != nil {
		return nil, err
	}
	m.d.Passwords.Succeeded(ctx, u)
	return t, nil
}
