package session

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	dbsession "github.com/gqlauth/gqlauth/ent/session"
	"github.com/gqlauth/gqlauth/internal/apierr"
)

// Authentication methods recorded in a session's amr (RFC 8176).
const (
	MethodPassword = "pwd" // a password
	MethodOTP      = "otp" // a one-time code: TOTP or a recovery code
	MethodMFA      = "mfa" // more than one factor
	// A passkey: hwk when it is bound to its device (not backup
	// eligible), swk when it may be synced to others (backup eligible).
	MethodHardwareKey = "hwk"
	MethodSoftwareKey = "swk"
	MethodUser        = "user" // the authenticator verified the user (PIN, biometrics)
)

// Proof is what the person holding a session has just proved.
type Proof struct {
	// AAL is the level the proof reaches: 2 for a second factor, 1 for
	// a re-entered password. A session never goes down a level.
	AAL int
	// Methods are the amr values to add to the session's.
	Methods []string
}

var errSessionEnded = apierr.New(apierr.Unauthenticated, "the session has ended; sign in again")

// Record writes proof on the live session sid of userID, in the caller's
// transaction: the higher of the two levels, the methods added, auth_time
// now. The session keeps its id; its tokens are not touched, so the next
// refresh hands out an access token that carries the new level
// (verifyTotpEnrollment, which answers with recovery codes, not tokens).
func (s *Service) Record(ctx context.Context, tx *ent.Tx, userID, sid uuid.UUID, p Proof) (*ent.Session, error) {
	now := s.now()
	sess, err := tx.Session.Query().Where(dbsession.ID(sid), dbsession.UserID(userID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errSessionEnded
	}
	if err != nil {
		return nil, err
	}
	if sess.RevokedAt != nil || s.checkLive(sess, now) != nil {
		return nil, errSessionEnded
	}
	amr := slices.Clone(sess.Amr)
	for _, m := range p.Methods {
		if !slices.Contains(amr, m) {
			amr = append(amr, m)
		}
	}
	// The conditional UPDATE takes the session's row lock, as a rotation
	// does, and finds nothing when the session ended meanwhile.
	n, err := tx.Session.Update().
		Where(dbsession.ID(sid), dbsession.RevokedAtIsNil()).
		SetAal(max(sess.Aal, p.AAL, 1)).
		SetAmr(amr).
		SetAuthTime(now).
		SetLastSeenAt(now).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("record proof: %w", err)
	}
	if n != 1 {
		return nil, errSessionEnded
	}
	return tx.Session.Get(ctx, sid)
}

// Prove records proof on the live session sid of u (Record) and rotates
// its refresh tokens: the live ones are revoked (ReasonSteppedUp) and a
// new one is stored, so that a token taken before the step-up does not
// reach the new level. The caller hands out the result after its commit.
func (s *Service) Prove(ctx context.Context, tx *ent.Tx, u *ent.User, sid uuid.UUID, p Proof) (Issued, error) {
	sess, err := s.Record(ctx, tx, u.ID, sid, p)
	if err != nil {
		return Issued{}, err
	}
	return s.replaceTokens(ctx, tx, u, sess, s.now(), ReasonSteppedUp)
}

// StartAfterReset is the session a password reset (or any email-proved
// recovery) signs the user into: a new session at AAL1, whatever the
// account's sessions were before, so that a user with a verified second
// factor must still step up with verifyMfa (ASVS 6.4.3: a reset never
// skips the second factor). The reset flow calls it in its transaction.
func (s *Service) StartAfterReset(ctx context.Context, tx *ent.Tx, u *ent.User) (Issued, error) {
	return s.StartWith(ctx, tx, u, MethodPassword)
}
