package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/predicate"
	"github.com/gqlauth/gqlauth/ent/refreshtoken"
	"github.com/gqlauth/gqlauth/ent/schema"
	dbsession "github.com/gqlauth/gqlauth/ent/session"
	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/request"
	"github.com/gqlauth/gqlauth/internal/token"
)

// maxGraceHops bounds how far a grace-window refresh follows a chain of
// rotations (a client that lost several responses in a row).
const maxGraceHops = 4

// byValue selects the stored refresh token whose value is raw (by its
// SHA-256): the one way a token is found by value.
func byValue(raw string) predicate.RefreshToken {
	return refreshtoken.TokenHash(token.HashRefreshToken(raw))
}

// tokenByValue finds the stored refresh token whose value is raw, without
// its edges.
func tokenByValue(ctx context.Context, q *ent.RefreshTokenQuery, raw string) (*ent.RefreshToken, error) {
	return q.Where(byValue(raw)).Only(ctx)
}

// presentedRow is a refresh token read together with its session and its
// user (presentedToken): the columns a rotation uses, under names of
// their own where the tables share one.
type presentedRow struct {
	ID              uuid.UUID  `sql:"id"`
	UserID          uuid.UUID  `sql:"user_id"`
	SessionID       uuid.UUID  `sql:"session_id"`
	ExpiresAt       time.Time  `sql:"expires_at"`
	RevokedAt       *time.Time `sql:"revoked_at"`
	RevokedReason   *string    `sql:"revoked_reason"`
	SealedSuccessor []byte     `sql:"sealed_successor"`

	SessionCreatedAt  time.Time  `sql:"s_created_at"`
	SessionLastSeenAt time.Time  `sql:"s_last_seen_at"`
	SessionExpiresAt  time.Time  `sql:"s_expires_at"`
	SessionAAL        int        `sql:"s_aal"`
	SessionAMR        []byte     `sql:"s_amr"` // JSON; scanned as bytes whatever the driver returns
	SessionAuthTime   *time.Time `sql:"s_auth_time"`

	UserCreatedAt       time.Time  `sql:"u_created_at"`
	UserUpdatedAt       time.Time  `sql:"u_updated_at"`
	UserEmail           *string    `sql:"u_email"`
	UserEmailVerifiedAt *time.Time `sql:"u_email_verified_at"`
	UserUsername        *string    `sql:"u_username"`
	UserFirstName       *string    `sql:"u_first_name"`
	UserLastName        *string    `sql:"u_last_name"`
	UserAge             *int       `sql:"u_age"`
	UserRole            user.Role  `sql:"u_role"`
}

// presentedColumns are presentedRow's columns of refresh_tokens.
var presentedColumns = []string{refreshtoken.FieldID, refreshtoken.FieldUserID, refreshtoken.FieldSessionID,
	refreshtoken.FieldExpiresAt, refreshtoken.FieldRevokedAt, refreshtoken.FieldRevokedReason, refreshtoken.FieldSealedSuccessor}

// withSessionAndUser joins a refresh-token query with the token's session
// and user and selects presentedRow's columns of theirs (the user's are
// those the GraphQL User type can show, never its password hash).
func withSessionAndUser(s *entsql.Selector) {
	b := entsql.Dialect(s.Dialect())
	sess, u := b.Table(dbsession.Table).As("s"), b.Table(user.Table).As("u")
	s.Join(sess).On(s.C(refreshtoken.FieldSessionID), sess.C(dbsession.FieldID)).
		Join(u).On(s.C(refreshtoken.FieldUserID), u.C(user.FieldID))
	for _, c := range []string{dbsession.FieldCreatedAt, dbsession.FieldLastSeenAt, dbsession.FieldExpiresAt,
		dbsession.FieldAal, dbsession.FieldAmr, dbsession.FieldAuthTime} {
		s.AppendSelect(entsql.As(sess.C(c), "s_"+c))
	}
	for _, c := range database.ShownUserColumns {
		s.AppendSelect(entsql.As(u.C(c), "u_"+c))
	}
}

// presentedToken finds the stored refresh token whose value is raw, with
// its session and its user in Edges, in one query (a rotation reads all
// three), and the dialect of the database. The user carries the fields
// the GraphQL User type can show; none of the three can load edges. When
// the service knows its dialect, the query is a statement made once
// (presentedStatement) and scanned field by field: ent's builder and its
// reflective scan were a sixth of a refresh's CPU.
func (s *Service) presentedToken(ctx context.Context, tx *ent.Tx, raw string) (*ent.RefreshToken, string, error) {
	var (
		r   presentedRow
		dia = s.dialect
	)
	if dia == "" {
		var rows []presentedRow
		join := func(s *entsql.Selector) {
			dia = s.Dialect()
			withSessionAndUser(s)
		}
		err := tx.RefreshToken.Query().
			Where(byValue(raw), predicate.RefreshToken(join)).
			Select(presentedColumns...).
			Scan(ctx, &rows)
		if err != nil {
			return nil, "", fmt.Errorf("read refresh token: %w", err)
		}
		if len(rows) == 0 {
			return nil, "", errRefreshInvalid
		}
		r = rows[0]
	} else {
		found, err := scanPresented(ctx, tx, dia, raw, &r)
		if err != nil {
			return nil, "", fmt.Errorf("read refresh token: %w", err)
		}
		if !found {
			return nil, "", errRefreshInvalid
		}
	}
	sess := &ent.Session{ID: r.SessionID, UserID: r.UserID, CreatedAt: r.SessionCreatedAt, LastSeenAt: r.SessionLastSeenAt,
		ExpiresAt: r.SessionExpiresAt, Aal: r.SessionAAL, AuthTime: r.SessionAuthTime}
	if len(r.SessionAMR) > 0 {
		if err := json.Unmarshal(r.SessionAMR, &sess.Amr); err != nil {
			return nil, "", fmt.Errorf("read session amr: %w", err)
		}
	}
	u := &ent.User{ID: r.UserID, CreatedAt: r.UserCreatedAt, UpdatedAt: r.UserUpdatedAt, Email: r.UserEmail,
		EmailVerifiedAt: r.UserEmailVerifiedAt, Username: r.UserUsername, FirstName: r.UserFirstName,
		LastName: r.UserLastName, Age: r.UserAge, Role: r.UserRole}
	rt := &ent.RefreshToken{ID: r.ID, UserID: r.UserID, SessionID: r.SessionID, ExpiresAt: r.ExpiresAt,
		RevokedAt: r.RevokedAt, RevokedReason: r.RevokedReason, SealedSuccessor: r.SealedSuccessor}
	rt.Edges.Session, rt.Edges.User = sess, u
	return rt, dia, nil
}

// presentedStatements are the SELECTs of presentedToken by dialect, made
// once by ent's builder (the same query as withSessionAndUser's) with the
// token hash as their one parameter.
var presentedStatements sync.Map

// presentedStatement is the SELECT of presentedRow's columns, in its
// fields' order, of the token whose hash is the parameter.
func presentedStatement(dia string) string {
	if q, ok := presentedStatements.Load(dia); ok {
		return q.(string)
	}
	b := entsql.Dialect(dia)
	t := b.Table(refreshtoken.Table)
	sel := b.Select(t.Columns(presentedColumns...)...).From(t)
	withSessionAndUser(sel)
	sel.Where(entsql.EQ(t.C(refreshtoken.FieldTokenHash), []byte(nil)))
	q, _ := sel.Query()
	presentedStatements.Store(dia, q)
	return q
}

// scanPresented reads the token whose value is raw, with its session and
// user, into r; found is false when there is none.
func scanPresented(ctx context.Context, tx *ent.Tx, dia, raw string, r *presentedRow) (found bool, err error) {
	rows, err := tx.QueryContext(ctx, presentedStatement(dia), token.HashRefreshToken(raw))
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	err = rows.Scan(&r.ID, &r.UserID, &r.SessionID, &r.ExpiresAt, &r.RevokedAt, &r.RevokedReason, &r.SealedSuccessor,
		&r.SessionCreatedAt, &r.SessionLastSeenAt, &r.SessionExpiresAt, &r.SessionAAL, &r.SessionAMR, &r.SessionAuthTime,
		&r.UserCreatedAt, &r.UserUpdatedAt, &r.UserEmail, &r.UserEmailVerifiedAt, &r.UserUsername, &r.UserFirstName,
		&r.UserLastName, &r.UserAge, (*string)(&r.UserRole))
	if err != nil {
		return false, err
	}
	return true, rows.Close()
}

// Refresh rotates a refresh token: the presented token is revoked and
// replaced by a new one of the same session, and a new access token is
// issued. The attempt is counted by the service's Recorder.
//
// Rotation is decided by conditional UPDATEs … WHERE revoked_at IS NULL,
// first of the session row, then of the token: of two concurrent
// rotations of one token, exactly one changes the token; PostgreSQL makes
// the other wait for the session's row lock, SQLite for the write lock
// (every transaction begins IMMEDIATE). The loser then sees the token as
// rotated and takes the grace path below. A rotation racing endSessions
// takes the same session lock, so it either commits first (and its
// successor is revoked with the session) or finds the session ended.
//
// A token rotated less than ReuseGrace ago (two tabs refreshing at once,
// or a response lost on the way) yields the successor that was already
// issued, unsealed with the presented token, so the session neither forks
// nor ends. Presented later, it is a replay: someone holds a copy of an
// old token, so the whole session ends (endSessions) and the request fails.
func (s *Service) Refresh(ctx context.Context, p Presented) (*Tokens, error) {
	t, err := s.refresh(ctx, p)
	switch code := apierr.CodeOf(err); {
	case err == nil:
		s.metrics.Refresh(RefreshRotated)
	case errors.Is(err, errReuseDetected):
		s.metrics.Refresh(RefreshReuseDetected)
	case code == apierr.Internal:
		s.metrics.Refresh(RefreshError)
	default:
		s.metrics.Refresh(RefreshRejected)
	}
	return t, err
}

func (s *Service) refresh(ctx context.Context, p Presented) (*Tokens, error) {
	if p.Token == "" {
		if p.Err != nil {
			return nil, p.Err
		}
		return nil, errRefreshMissing
	}
	var (
		is     Issued
		replay *ent.RefreshToken
	)
	err := database.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		for attempt := 0; attempt < 2; attempt++ {
			rt, dia, err := s.presentedToken(ctx, tx, p.Token)
			if err != nil {
				return err
			}
			// Before anything changes: a forged CSRF value must not be
			// able to rotate, nor to trip reuse detection.
			if err := p.checkSession(rt.SessionID); err != nil {
				return err
			}
			now := s.now()
			switch {
			case rt.RevokedAt == nil:
				ok, err := s.rotate(ctx, tx, rt, dia, p.Token, now, &is)
				if err != nil || ok {
					return err
				}
				// Lost the race to a concurrent rotation: look again.
			case s.inGrace(rt, now):
				return s.reissue(ctx, tx, rt, p.Token, now, &is)
			case rt.RevokedReason != nil && *rt.RevokedReason == ReasonRotated:
				replay = rt
				return s.endSessions(ctx, tx, Selection{Session: rt.SessionID}, ReasonReuseDetected)
			default:
				return errRefreshInvalid
			}
		}
		return errRefreshInvalid
	})
	if err != nil {
		return nil, err
	}
	if replay != nil {
		s.log.WarnContext(ctx, "refresh token reuse detected; session revoked",
			"user_id", replay.UserID, "session_id", replay.SessionID, "token_id", replay.ID,
			"ip", request.From(ctx).IP)
		return nil, errReuseDetected
	}
	return s.HandOut(is)
}

// inGrace reports whether rt was rotated recently enough that presenting
// it again is a concurrent refresh rather than a replay.
func (s *Service) inGrace(rt *ent.RefreshToken, now time.Time) bool {
	return s.set.ReuseGrace > 0 &&
		rt.RevokedReason != nil && *rt.RevokedReason == ReasonRotated &&
		len(rt.SealedSuccessor) > 0 &&
		now.Before(rt.RevokedAt.Add(s.set.ReuseGrace))
}

// checkLive refuses to go on with a session that has reached its
// absolute lifetime or its idle timeout. The client should learn that
// signing in again is the only way on, so this is checked before the
// token's own expiry.
func (s *Service) checkLive(sess *ent.Session, now time.Time) error {
	if !now.Before(s.deadline(sess)) {
		return errSessionExpired
	}
	if s.set.IdleTimeout > 0 && !now.Before(sess.LastSeenAt.Add(s.set.IdleTimeout)) {
		return errSessionIdle
	}
	return nil
}

// touch marks sess seen at now, if it has not ended: the conditional
// UPDATE takes the session's row lock (see Refresh) and reports false
// when the session was revoked meanwhile.
//
// last_seen_at moves only when it is seenStep or more behind: a session
// refreshing every few minutes would otherwise rewrite an indexed column
// on every rotation, which makes PostgreSQL add an entry to each of the
// table's indexes and leave the old ones for vacuum. Otherwise the UPDATE
// sets revoked_at to the NULL it already is: it still takes the row lock
// and reports an ended session, and, no indexed value changing,
// PostgreSQL writes it as a heap-only (HOT) update.
func (s *Service) touch(ctx context.Context, tx *ent.Tx, sess *ent.Session, now time.Time) (bool, error) {
	u := tx.Session.Update().
		Where(dbsession.ID(sess.ID), dbsession.RevokedAtIsNil())
	if now.Sub(sess.LastSeenAt) >= s.seenStep() {
		u.SetLastSeenAt(now)
	} else {
		u.ClearRevokedAt()
	}
	if end := s.deadline(sess); !end.Equal(sess.ExpiresAt) {
		u.SetExpiresAt(end) // SESSION_MAX_LIFETIME changed since
	}
	n, err := u.Save(ctx)
	if err != nil {
		return false, fmt.Errorf("touch session: %w", err)
	}
	return n == 1, nil
}

// MaxLastSeenLag is the most a session's last_seen_at (its GraphQL
// lastSeenAt) may lag behind its last refresh (touch).
const MaxLastSeenLag = time.Minute

// seenStep is how far behind last_seen_at may be before a refresh moves
// it: MaxLastSeenLag, or a hundredth of SESSION_IDLE_TIMEOUT when that is
// shorter, so that the lag never ends a session early by more than 1 %.
func (s *Service) seenStep() time.Duration {
	if s.set.IdleTimeout > 0 {
		return min(MaxLastSeenLag, s.set.IdleTimeout/100)
	}
	return MaxLastSeenLag
}

// rotate replaces the live token rt. It reports false when a concurrent
// rotation changed rt first.
func (s *Service) rotate(ctx context.Context, tx *ent.Tx, rt *ent.RefreshToken, dia, raw string, now time.Time, is *Issued) (bool, error) {
	sess := rt.Edges.Session
	if err := s.checkLive(sess, now); err != nil {
		return false, err
	}
	if !now.Before(rt.ExpiresAt) {
		return false, errRefreshInvalid
	}
	live, err := s.touch(ctx, tx, sess, now)
	if err != nil {
		return false, err
	}
	if !live {
		return false, errRefreshInvalid
	}
	next, nextHash := token.NewRefreshToken()
	nextID := schema.NewID()
	sealed := sealSuccessor(raw, next)
	if dia == dialect.Postgres {
		ok, err := s.replaceInOne(ctx, tx, rt, now, nextID, next, nextHash, sealed, is)
		if err != nil || !ok {
			return false, err
		}
	} else {
		n, err := tx.RefreshToken.Update().
			Where(refreshtoken.ID(rt.ID), refreshtoken.RevokedAtIsNil()).
			SetRevokedAt(now).
			SetRevokedReason(ReasonRotated).
			SetReplacedBy(nextID).
			SetLastUsedAt(now).
			SetSealedSuccessor(sealed).
			Save(ctx)
		if err != nil {
			return false, fmt.Errorf("revoke rotated token: %w", err)
		}
		if n == 0 {
			return false, nil
		}
		if *is, err = s.storeToken(ctx, tx, rt.Edges.User, sess, now, nextID, next, nextHash); err != nil {
			return false, err
		}
	}
	return true, s.audit.Record(ctx, tx, audit.Event{Type: audit.SessionRefreshed, UserID: rt.UserID, SessionID: rt.SessionID})
}

// replaceInOne is rotate's revocation of rt and insertion of its
// successor as one PostgreSQL statement (a data-modifying WITH), one
// round trip instead of two: the same conditional UPDATE … WHERE
// revoked_at IS NULL, whose RETURNING row is the one the INSERT copies,
// so that the successor exists exactly when rt was rotated by this
// transaction. It reports false when a concurrent rotation changed rt
// first (nothing was inserted). SQLite, whose WITH cannot hold an
// UPDATE, runs the two statements.
func (s *Service) replaceInOne(ctx context.Context, tx *ent.Tx, rt *ent.RefreshToken, now time.Time, nextID uuid.UUID, next string, nextHash, sealed []byte, is *Issued) (bool, error) {
	issued, ua, ip := s.newToken(ctx, rt.Edges.User, rt.Edges.Session, now, next)
	res, err := tx.ExecContext(ctx, rotateStatement,
		now, ReasonRotated, nextID, sealed, rt.ID, nextHash, issued.expires, ua, ip)
	if err != nil {
		return false, fmt.Errorf("rotate refresh token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("rotate refresh token: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	*is = issued
	return true, nil
}

// rotateStatement revokes the token $5 as rotated (at $1, reason $2,
// replaced by $3, sealed successor $4) if it is live, and inserts its
// successor $3 (hash $6, expiry $7, client $8 and $9) in the same
// session for the same user.
var rotateStatement = fmt.Sprintf(`WITH rotated AS (
	UPDATE %[1]s SET %[2]s = $1, %[3]s = $2, %[4]s = $3, %[5]s = $1, %[6]s = $4
	WHERE %[7]s = $5 AND %[2]s IS NULL
	RETURNING %[8]s, %[9]s)
INSERT INTO %[1]s (%[7]s, %[8]s, %[9]s, %[10]s, %[11]s, %[12]s, %[13]s, %[14]s)
SELECT $3, %[8]s, %[9]s, $6, $1, $7, $8, $9 FROM rotated`,
	refreshtoken.Table, refreshtoken.FieldRevokedAt, refreshtoken.FieldRevokedReason, refreshtoken.FieldReplacedBy,
	refreshtoken.FieldLastUsedAt, refreshtoken.FieldSealedSuccessor, refreshtoken.FieldID, refreshtoken.FieldUserID,
	refreshtoken.FieldSessionID, refreshtoken.FieldTokenHash, refreshtoken.FieldCreatedAt, refreshtoken.FieldExpiresAt,
	refreshtoken.FieldUserAgent, refreshtoken.FieldIP)

// reissue answers a grace-window refresh with the live successor of rt.
func (s *Service) reissue(ctx context.Context, tx *ent.Tx, rt *ent.RefreshToken, raw string, now time.Time, is *Issued) error {
	cur, curRaw := rt, raw
	for hop := 0; hop < maxGraceHops; hop++ {
		next, err := unsealSuccessor(curRaw, cur.SealedSuccessor)
		if err != nil {
			return errRefreshInvalid
		}
		succ, err := tokenByValue(ctx, tx.RefreshToken.Query(), next)
		if ent.IsNotFound(err) {
			return errRefreshInvalid
		}
		if err != nil {
			return err // a database failure, not a bad token: the client keeps it
		}
		if succ.RevokedAt == nil {
			if !now.Before(succ.ExpiresAt) {
				return errRefreshInvalid
			}
			if err := tx.RefreshToken.UpdateOneID(rt.ID).SetLastUsedAt(now).Exec(ctx); err != nil {
				return err
			}
			*is = Issued{user: rt.Edges.User, sessionID: rt.SessionID, refresh: next, expires: succ.ExpiresAt, level: levelOf(rt.Edges.Session)}
			return nil
		}
		if !s.inGrace(succ, now) {
			return errRefreshInvalid
		}
		cur, curRaw = succ, next
	}
	return errRefreshInvalid
}

// Continue gives the session sid of u a new refresh token and revokes
// its others (reason), in the caller's transaction: a password change
// keeps the current session going while every token issued before it
// stops working. A session that has ended, or that was never stored, is
// replaced by a new one.
func (s *Service) Continue(ctx context.Context, tx *ent.Tx, u *ent.User, sid uuid.UUID, reason string) (Issued, error) {
	now := s.now()
	sess, err := tx.Session.Query().Where(dbsession.ID(sid), dbsession.UserID(u.ID)).Only(ctx)
	if ent.IsNotFound(err) {
		return s.Start(ctx, tx, u)
	}
	if err != nil {
		return Issued{}, err
	}
	if sess.RevokedAt != nil || s.checkLive(sess, now) != nil {
		return s.Start(ctx, tx, u)
	}
	live, err := s.touch(ctx, tx, sess, now)
	if err != nil {
		return Issued{}, err
	}
	if !live {
		return s.Start(ctx, tx, u)
	}
	return s.replaceTokens(ctx, tx, u, sess, now, reason)
}

// replaceTokens revokes the live refresh tokens of sess (reason) and
// stores a new one in it: the session goes on, and no token issued before
// now does. A password change and a step-up both do this.
func (s *Service) replaceTokens(ctx context.Context, tx *ent.Tx, u *ent.User, sess *ent.Session, now time.Time, reason string) (Issued, error) {
	if err := tx.RefreshToken.Update().
		Where(refreshtoken.SessionID(sess.ID), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(now).
		SetRevokedReason(reason).
		Exec(ctx); err != nil {
		return Issued{}, fmt.Errorf("revoke session tokens: %w", err)
	}
	raw, hash := token.NewRefreshToken()
	return s.storeToken(ctx, tx, u, sess, now, schema.NewID(), raw, hash)
}
