package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/factor"
	"github.com/gqlauth/gqlauth/ent/schema"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/authn/recovery"
	"github.com/gqlauth/gqlauth/internal/authn/totp"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/mail"
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/session"
)

// Who must use a second factor (MFA_REQUIRED).
const (
	MFAOptional = "off"    // nobody, unless they enrolled one
	MFAAdmins   = "admins" // ADMINs
	MFAEveryone = "all"    // everybody
)

// Requirement is what an authenticated request still owes before fields
// other than the exempt ones (@aal1, @enrollment) may run.
type Requirement int

// The requirements MFA.Requirement returns.
const (
	NothingDue    Requirement = iota // the session may do what its role allows
	StepUpDue                        // an AAL1 session of a user with a verified factor: verifyMfa first
	EnrollmentDue                    // MFA_REQUIRED applies and the user has no verified factor: enroll one first
)

// Limits on factors.
const (
	// MaxFactors bounds the factors of one user, verified or pending.
	MaxFactors = 10
	// UnverifiedTTL is how long an enrollment waits for its first code
	// before housekeeping deletes it.
	UnverifiedTTL = time.Hour
)

// Notices queues the email notices of the second-factor flows in the
// caller's transaction; *mail.Mailer implements it.
type Notices interface {
	Queue(ctx context.Context, tx *ent.Tx, kind mail.Kind, to string, d mail.Data) (uuid.UUID, error)
}

// MFASettings are the second-factor rules from the configuration.
type MFASettings struct {
	// Required is MFA_REQUIRED: MFAOptional, MFAAdmins or MFAEveryone.
	Required string
	// ReauthMaxAge is REAUTH_MAX_AGE (0: off).
	ReauthMaxAge time.Duration
}

// MFADeps are what the second-factor service works with.
type MFADeps struct {
	DB *ent.Client
	// Codes is the TOTP credential.
	Codes *totp.Codes
	// Attempts counts wrong recovery codes per user (MFA_MAX_FAILURES);
	// nil counts nothing.
	Attempts totp.Attempts
	// Passwords checks the password of reauthenticate.
	Passwords *Passwords
	Sessions  *session.Service
	// Notices sends the email notices; nil sends none.
	Notices Notices
	// Audit records the factor flows (factor.enrolled, factor.removed,
	// mfa.verified, mfa.failed, recovery_code.used); nil records nothing.
	Audit *audit.Trail
	Log   *slog.Logger
	// Clock is the time every rule here reads; nil is time.Now.
	Clock func() time.Time
}

// MFA is second factors: enrolling and removing them, recovery codes,
// stepping a session up to AAL2, re-authentication, and the assurance a
// request still owes (Requirement, asked once for every root field by
// the GraphQL layer).
type MFA struct {
	d   MFADeps
	set MFASettings
	now func() time.Time
}

// NewMFA returns the second-factor service.
func NewMFA(d MFADeps, set MFASettings) *MFA {
	m := &MFA{d: d, set: set, now: d.Clock}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

var (
	errMFARequired    = apierr.New(apierr.MFARequired, "this session must step up with a second factor first (verifyMfa)")
	errEnrollRequired = apierr.New(apierr.MFAEnrollmentRequired, "a second factor is required: enroll one first (enrollTotp, then verifyTotpEnrollment)")
	errFactorNotFound = apierr.New(apierr.NotFound, "factor not found")
	errFactorVerified = apierr.New(apierr.BadUserInput, "the factor is already verified")
	errTooManyFactors = apierr.New(apierr.BadUserInput, fmt.Sprintf("a user may have at most %d factors", MaxFactors))
	errNoFactor       = apierr.New(apierr.BadUserInput, "enroll a second factor first")
	errCodeRequired   = &apierr.Error{Code: apierr.BadUserInput, Message: "a code of a second factor is required",
		Fields: map[string]string{"code": "is required"}}
	errPasswordRequired = &apierr.Error{Code: apierr.BadUserInput, Message: "the password is required",
		Fields: map[string]string{"password": "is required"}}
)

// MFARequiredError is the error of Requirement r for a field that is not
// exempt from it; nil for NothingDue.
func MFARequiredError(r Requirement) error {
	switch r {
	case StepUpDue:
		return errMFARequired
	case EnrollmentDue:
		return errEnrollRequired
	}
	return nil
}

// Requirement says what v's session still owes: StepUpDue for an AAL1
// session of a user with a verified factor, EnrollmentDue for a user
// MFA_REQUIRED covers who has none, else NothingDue. An AAL2 token owes
// nothing and costs no query; an AAL1 token costs one indexed query.
// A viewer without a token (the command line) owes nothing.
func (m *MFA) Requirement(ctx context.Context, v *policy.Viewer) (Requirement, error) {
	if v == nil || v.Claims == nil || v.Claims.Level() >= 2 {
		return NothingDue, nil
	}
	has, err := m.hasVerified(ctx, m.d.DB, v.UserID)
	if err != nil {
		return NothingDue, err
	}
	switch {
	case has:
		return StepUpDue, nil
	case m.set.Required == MFAEveryone, m.set.Required == MFAAdmins && v.IsAdmin():
		return EnrollmentDue, nil
	}
	return NothingDue, nil
}

func (m *MFA) hasVerified(ctx context.Context, db *ent.Client, userID uuid.UUID) (bool, error) {
	return db.Factor.Query().Where(factor.UserID(userID), factor.StatusEQ(factor.StatusVERIFIED)).Exist(ctx)
}

// Factors are the viewer's factors, oldest first.
func (m *MFA) Factors(ctx context.Context) ([]*ent.Factor, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	return m.d.DB.Factor.Query().Where(factor.UserID(v.UserID)).Order(factor.ByCreatedAt(), factor.ByID()).All(ctx)
}

// VerifiedFactors are userID's verified factors, oldest first: what
// AuthPayload.factors shows the user who just signed in.
func (m *MFA) VerifiedFactors(ctx context.Context, userID uuid.UUID) ([]*ent.Factor, error) {
	return m.d.DB.Factor.Query().
		Where(factor.UserID(userID), factor.StatusEQ(factor.StatusVERIFIED)).
		Order(factor.ByCreatedAt(), factor.ByID()).All(ctx)
}

// TotpEnrollment is a new TOTP factor and its secret, shown once.
type TotpEnrollment struct {
	Factor *ent.Factor
	totp.Enrollment
}

// EnrollTotp starts a TOTP factor for the viewer: UNVERIFIED until
// VerifyTotpEnrollment. It needs a recent sign-in, and an AAL2 session
// when the viewer already has a verified factor.
func (m *MFA) EnrollTotp(ctx context.Context, friendlyName *string) (*TotpEnrollment, error) {
	v, name, err := m.enrollment(ctx, friendlyName)
	if err != nil {
		return nil, err
	}
	var out *TotpEnrollment
	err = database.WithTx(ctx, m.d.DB, func(tx *ent.Tx) error {
		u, err := m.mayEnroll(ctx, tx, v)
		if err != nil {
			return err
		}
		id := schema.NewID()
		e, err := m.d.Codes.NewSecret(id, accountName(u))
		if err != nil {
			return err
		}
		f, err := tx.Factor.Create().SetID(id).SetUserID(u.ID).SetType(factor.TypeTOTP).
			SetNillableFriendlyName(name).SetSecret(e.Sealed).SetCreatedAt(m.now()).Save(ctx)
		if err != nil {
			return fmt.Errorf("store factor: %w", err)
		}
		out = &TotpEnrollment{Factor: f, Enrollment: e}
		return nil
	})
	return out, err
}

// enrollment checks what every enrollment asks first: a viewer whose
// sign-in is recent (REAUTH_MAX_AGE), and a friendly name of at most 100
// characters (nil when blank).
func (m *MFA) enrollment(ctx context.Context, friendlyName *string) (*policy.Viewer, *string, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := v.RequireRecentAuth(m.now(), m.set.ReauthMaxAge); err != nil {
		return nil, nil, err
	}
	if friendlyName == nil {
		return v, nil, nil
	}
	n := strings.TrimSpace(*friendlyName)
	if !utf8.ValidString(n) || utf8.RuneCountInString(n) > 100 {
		return nil, nil, apierr.Invalid(map[string]string{"friendlyName": "must be at most 100 characters"})
	}
	if n == "" {
		return v, nil, nil
	}
	return v, &n, nil
}

// mayEnroll is the viewer's account, in tx, when it may add a factor: an
// AAL2 session when it already has a verified one, and fewer than
// MaxFactors (verified, or pending for less than UnverifiedTTL).
func (m *MFA) mayEnroll(ctx context.Context, tx *ent.Tx, v *policy.Viewer) (*ent.User, error) {
	u, err := tx.User.Get(ctx, v.UserID)
	if ent.IsNotFound(err) {
		return nil, apierr.ErrNoViewer
	}
	if err != nil {
		return nil, err
	}
	has, err := m.hasVerified(ctx, tx.Client(), u.ID)
	if err != nil {
		return nil, err
	}
	if has && v.Claims != nil && v.Claims.Level() < 2 {
		return nil, errMFARequired
	}
	n, err := tx.Factor.Query().Where(factor.UserID(u.ID), factor.Or(
		factor.StatusEQ(factor.StatusVERIFIED), factor.CreatedAtGT(m.now().Add(-UnverifiedTTL)))).Count(ctx)
	if err != nil {
		return nil, err
	}
	if n >= MaxFactors {
		return nil, errTooManyFactors
	}
	return u, nil
}

// accountName is how an authenticator app labels u's codes.
func accountName(u *ent.User) string {
	switch {
	case u.Email != nil:
		return *u.Email
	case u.Username != nil:
		return *u.Username
	}
	return u.ID.String()
}

// ownFactor is the viewer's factor id; NOT_FOUND for anyone else's.
func ownFactor(ctx context.Context, db *ent.Client, v *policy.Viewer, id uuid.UUID) (*ent.Factor, error) {
	f, err := db.Factor.Query().Where(factor.ID(id), factor.UserID(v.UserID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errFactorNotFound
	}
	return f, err
}

// VerifyTotpEnrollment completes the viewer's TOTP enrollment with its
// first code. The viewer's session becomes AAL2 (the next refresh hands
// out tokens that say so). It returns the recovery codes when this is the
// user's first verified factor, else none.
func (m *MFA) VerifyTotpEnrollment(ctx context.Context, id uuid.UUID, code string) ([]string, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	f, err := ownFactor(ctx, m.d.DB, v, id)
	if err != nil {
		return nil, err
	}
	if f.Status == factor.StatusVERIFIED {
		return nil, errFactorVerified
	}
	if !m.now().Before(f.CreatedAt.Add(UnverifiedTTL)) {
		return nil, errFactorNotFound
	}
	if err := m.d.Codes.Check(ctx, m.d.DB, f, code); err != nil {
		return nil, err
	}
	codes := []string{}
	err = database.WithTx(ctx, m.d.DB, func(tx *ent.Tx) error {
		had, err := m.hasVerified(ctx, tx.Client(), v.UserID)
		if err != nil {
			return err
		}
		n, err := tx.Factor.Update().Where(factor.ID(f.ID), factor.StatusEQ(factor.StatusUNVERIFIED)).
			SetStatus(factor.StatusVERIFIED).Save(ctx)
		if err != nil {
			return fmt.Errorf("verify factor: %w", err)
		}
		if n != 1 {
			return errFactorVerified
		}
		if !had {
			if codes, err = recovery.Generate(ctx, tx, v.UserID, m.now()); err != nil {
				return err
			}
		}
		if _, err = m.d.Sessions.Record(ctx, tx, v.UserID, v.SessionID, stepUp); err != nil {
			return err
		}
		return m.d.Audit.Record(ctx, tx, audit.Event{Type: audit.FactorEnrolled, UserID: v.UserID, SessionID: v.SessionID,
			Details: map[string]any{"factor_id": f.ID.String(), "factor_type": string(f.Type)}})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// stepUp is the proof of a second factor.
var stepUp = session.Proof{AAL: 2, Methods: []string{session.MethodOTP, session.MethodMFA}}

// VerifyMfa steps the viewer's session up to AAL2 with a TOTP code of
// factorID, or with a recovery code when factorID is nil (which spends
// it and tells the user by email). The session keeps its id; its refresh
// tokens are replaced.
func (m *MFA) VerifyMfa(ctx context.Context, factorID *uuid.UUID, code string) (*session.Tokens, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if factorID != nil {
		f, err := ownFactor(ctx, m.d.DB, v, *factorID)
		if err != nil {
			return nil, err
		}
		if f.Status != factor.StatusVERIFIED || f.Type != factor.TypeTOTP {
			return nil, errFactorNotFound
		}
		if err := m.d.Codes.Check(ctx, m.d.DB, f, code); err != nil {
			m.failed(ctx, v, err, "totp")
			return nil, err
		}
		return m.prove(ctx, v, stepUp, func(tx *ent.Tx, u *ent.User) error {
			return m.d.Audit.Record(ctx, tx, audit.Event{Type: audit.MFAVerified, UserID: u.ID, SessionID: v.SessionID,
				Details: map[string]any{"method": "totp", "factor_id": f.ID.String()}})
		})
	}
	key := "mfa:recovery:" + v.UserID.String()
	if m.d.Attempts != nil {
		retry, err := m.d.Attempts.Begin(ctx, key)
		if err != nil {
			return nil, apierr.Wrap(apierr.ServiceUnavailable, "code checks are unavailable; try again later", err)
		}
		if retry > 0 {
			return nil, &apierr.Error{Code: apierr.TooManyRequests, Message: "too many wrong codes; try again later", RetryAfter: retry}
		}
	}
	t, err := m.prove(ctx, v, stepUp, func(tx *ent.Tx, u *ent.User) error {
		ok, err := recovery.Use(ctx, tx, u.ID, code, m.now())
		if err != nil {
			return err
		}
		if !ok {
			return totp.ErrWrongCode
		}
		if err := m.d.Audit.Record(ctx, tx,
			audit.Event{Type: audit.RecoveryCodeUsed, UserID: u.ID, SessionID: v.SessionID},
			audit.Event{Type: audit.MFAVerified, UserID: u.ID, SessionID: v.SessionID, Details: map[string]any{"method": "recovery_code"}},
		); err != nil {
			return err
		}
		return m.notify(ctx, tx, u, mail.KindRecoveryCodeUsed)
	})
	m.failed(ctx, v, err, "recovery_code")
	if err == nil && m.d.Attempts != nil {
		_ = m.d.Attempts.Reset(ctx, key)
	}
	return t, err
}

// failed records mfa.failed for a wrong code of method (err is what the
// check returned; other errors, such as a lockout or an outage, are not
// a wrong code and record nothing). Nothing commits with a wrong code, so
// the event is recorded on its own.
func (m *MFA) failed(ctx context.Context, v *policy.Viewer, err error, method string) {
	if !errors.Is(err, totp.ErrWrongCode) {
		return
	}
	m.d.Audit.RecordAlone(ctx, audit.Event{Type: audit.MFAFailed, UserID: v.UserID, SessionID: v.SessionID,
		Details: map[string]any{"method": method}})
}

// prove records p on the viewer's session and hands out its new tokens;
// check, when set, runs first in the same transaction.
func (m *MFA) prove(ctx context.Context, v *policy.Viewer, p session.Proof, check func(*ent.Tx, *ent.User) error) (*session.Tokens, error) {
	var is session.Issued
	err := database.WithTx(ctx, m.d.DB, func(tx *ent.Tx) error {
		u, err := tx.User.Get(ctx, v.UserID)
		if ent.IsNotFound(err) {
			return apierr.ErrNoViewer
		}
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(tx, u); err != nil {
				return err
			}
		}
		is, err = m.d.Sessions.Prove(ctx, tx, u, v.SessionID, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m.d.Sessions.HandOut(is)
}

// notify queues a notice of kind to u's address, if u has one.
func (m *MFA) notify(ctx context.Context, tx *ent.Tx, u *ent.User, kind mail.Kind) error {
	if m.d.Notices == nil || u.Email == nil {
		return nil
	}
	d := mail.Data{Now: m.now()}
	switch {
	case u.FirstName != nil:
		d.Name = *u.FirstName
	case u.Username != nil:
		d.Name = *u.Username
	}
	_, err := m.d.Notices.Queue(ctx, tx, kind, *u.Email, d)
	return err
}

// RemoveFactor deletes one of the viewer's factors. It needs a recent
// sign-in; removing a verified factor sends a notice, and removing the
// last one also deletes the recovery codes.
func (m *MFA) RemoveFactor(ctx context.Context, id uuid.UUID) error {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return err
	}
	if err := v.RequireRecentAuth(m.now(), m.set.ReauthMaxAge); err != nil {
		return err
	}
	return database.WithTx(ctx, m.d.DB, func(tx *ent.Tx) error {
		f, err := ownFactor(ctx, tx.Client(), v, id)
		if err != nil {
			return err
		}
		if err := tx.Factor.DeleteOneID(f.ID).Exec(ctx); err != nil {
			return fmt.Errorf("delete factor: %w", err)
		}
		if err := m.d.Audit.Record(ctx, tx, audit.Event{Type: audit.FactorRemoved, UserID: v.UserID, SessionID: v.SessionID,
			Details: map[string]any{"factor_id": f.ID.String(), "factor_type": string(f.Type), "status": string(f.Status)}}); err != nil {
			return err
		}
		if f.Status != factor.StatusVERIFIED {
			return nil
		}
		left, err := m.hasVerified(ctx, tx.Client(), v.UserID)
		if err != nil {
			return err
		}
		if !left {
			if err := recovery.Delete(ctx, tx, v.UserID); err != nil {
				return err
			}
		}
		u, err := tx.User.Get(ctx, v.UserID)
		if err != nil {
			return err
		}
		return m.notify(ctx, tx, u, mail.KindFactorRemoved)
	})
}

// RegenerateRecoveryCodes replaces the viewer's recovery codes with a new
// set. It needs a verified factor and a recent sign-in.
func (m *MFA) RegenerateRecoveryCodes(ctx context.Context) ([]string, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := v.RequireRecentAuth(m.now(), m.set.ReauthMaxAge); err != nil {
		return nil, err
	}
	var codes []string
	err = database.WithTx(ctx, m.d.DB, func(tx *ent.Tx) error {
		has, err := m.hasVerified(ctx, tx.Client(), v.UserID)
		if err != nil {
			return err
		}
		if !has {
			return errNoFactor
		}
		codes, err = recovery.Generate(ctx, tx, v.UserID, m.now())
		return err
	})
	return codes, err
}

// Reauthenticate renews the viewer's auth_time: the password, and when
// the user has a verified factor also a TOTP code of one (so the session
// is, or becomes, AAL2). It hands out new tokens for the same session.
func (m *MFA) Reauthenticate(ctx context.Context, password, code *string) (*session.Tokens, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if password == nil || *password == "" {
		return nil, errPasswordRequired
	}
	u, err := m.d.DB.User.Get(ctx, v.UserID)
	if ent.IsNotFound(err) {
		return nil, apierr.ErrNoViewer
	}
	if err != nil {
		return nil, err
	}
	if err := m.d.Passwords.Check(ctx, u, "", *password); err != nil {
		return nil, err
	}
	proof := session.Proof{AAL: 1, Methods: []string{session.MethodPassword}}
	factors, err := m.VerifiedFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if len(factors) > 0 || (v.Claims != nil && v.Claims.Level() >= 2) {
		if code == nil || *code == "" {
			return nil, errCodeRequired
		}
		err := error(totp.ErrWrongCode)
		for _, f := range factors {
			if f.Type != factor.TypeTOTP {
				continue
			}
			if err = m.d.Codes.Check(ctx, m.d.DB, f, *code); err == nil || apierr.CodeOf(err) != apierr.BadUserInput {
				break
			}
		}
		if err != nil {
			m.failed(ctx, v, err, "totp")
			return nil, err
		}
		proof = session.Proof{AAL: 2, Methods: []string{session.MethodPassword, session.MethodOTP, session.MethodMFA}}
	}
	return m.prove(ctx, v, proof, nil)
}

// ResetFactors removes every factor and recovery code of userID, for a
// user who lost them, ends the user's sessions (reason factors_reset),
// and tells them by email. ADMIN only.
func (m *MFA) ResetFactors(ctx context.Context, userID uuid.UUID) error {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return err
	}
	if err := v.RequireAdmin(); err != nil {
		return err
	}
	return database.WithTx(ctx, m.d.DB, func(tx *ent.Tx) error {
		u, err := tx.User.Query().Where(user.ID(userID)).Only(ctx)
		if ent.IsNotFound(err) {
			return apierr.New(apierr.NotFound, "user not found")
		}
		if err != nil {
			return err
		}
		n, err := tx.Factor.Delete().Where(factor.UserID(userID)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("delete factors: %w", err)
		}
		if err := recovery.Delete(ctx, tx, userID); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		// What the factors proved ends with them: every session of the
		// user (an AAL2 one, or one a lost passkey started) and the
		// access tokens issued so far. The user signs in again with the
		// password, at AAL1.
		if err := m.d.Sessions.End(ctx, tx, session.Selection{User: userID, UserTokensBefore: m.now(),
			By: audit.User(v.UserID)}, session.ReasonFactorsReset); err != nil {
			return err
		}
		if err := m.d.Audit.Record(ctx, tx, audit.Event{Type: audit.FactorRemoved, Actor: audit.User(v.UserID), UserID: userID,
			Details: map[string]any{"reason": "admin_reset", "count": n}}); err != nil {
			return err
		}
		return m.notify(ctx, tx, u, mail.KindFactorsReset)
	})
}

// CheckReset is the account service's SecondFactor hook, asked before a
// password reset takes effect. It allows the reset: the mail proves the
// address, not a factor, so the reset's session starts at AAL1
// (session.StartAfterReset) and Requirement keeps every field but the
// @aal1 ones closed until the user passes verifyMfa. The factors and
// recovery codes stay as they were.
func (m *MFA) CheckReset(context.Context, *ent.User) error { return nil }

// DeleteStaleEnrollments deletes the factors that waited for their first
// code longer than UnverifiedTTL (housekeeping).
func (m *MFA) DeleteStaleEnrollments(ctx context.Context) (int, error) {
	return m.d.DB.Factor.Delete().
		Where(factor.StatusEQ(factor.StatusUNVERIFIED), factor.CreatedAtLT(m.now().Add(-UnverifiedTTL))).
		Exec(ctx)
}
