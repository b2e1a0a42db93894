// Package session is gqlauth's sessions: a Session row per sign-in, the
// refresh tokens that hang off it, their rotation with a grace window and
// reuse detection, and the one way sessions end (endSessions).
//
// It takes and returns values: the refresh token an operation acts on is
// an explicit input (Presented), and the tokens it hands out are returned
// for the HTTP layer to put in cookies; it never sees an HTTP request.
package session

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/schema"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/request"
	"github.com/gqlauth/gqlauth/internal/token"
)

// Reasons recorded in revoked_reason of sessions and refresh tokens.
const (
	ReasonRotated         = "rotated" // refresh tokens only: replaced by a successor
	ReasonLogout          = "logout"
	ReasonRevoked         = "revoked"
	ReasonReuseDetected   = "reuse_detected"
	ReasonPasswordChanged = "password_changed"
	ReasonPasswordReset   = "password_reset"
	ReasonUserDeleted     = "user_deleted"
	ReasonFactorsReset    = "factors_reset" // an admin removed the user's second factors (resetFactors)
	ReasonSteppedUp       = "stepped_up"    // refresh tokens only: replaced when the session proved more (Prove)
)

// Settings are the lifetimes of sessions and their refresh tokens.
type Settings struct {
	// RefreshTokenTTL is how long one refresh token lives unless rotated
	// (JWT_REFRESH_EXPIRES_IN).
	RefreshTokenTTL time.Duration
	// MaxLifetime bounds a session from its sign-in, however often it
	// refreshes (SESSION_MAX_LIFETIME).
	MaxLifetime time.Duration
	// IdleTimeout ends a session that has not refreshed for that long
	// (SESSION_IDLE_TIMEOUT); 0 turns it off.
	IdleTimeout time.Duration
	// ReuseGrace is how long a rotated refresh token still yields its
	// successor (REFRESH_REUSE_GRACE).
	ReuseGrace time.Duration
}

// Recorder counts refreshes, for metrics; *metrics.Metrics implements it.
type Recorder interface {
	// Refresh records a refresh attempt: one of the Refresh* results.
	Refresh(result string)
}

// Results passed to Recorder.Refresh.
const (
	RefreshRotated       = "rotated"        // a new token was handed out (also within the grace window)
	RefreshReuseDetected = "reuse_detected" // a rotated token was replayed; the session was revoked
	RefreshRejected      = "rejected"       // missing, unknown, expired or revoked token
	RefreshError         = "error"          // the server failed
)

// Deps are what the session service works with.
type Deps struct {
	DB     *ent.Client
	Tokens *token.Issuer
	Deny   token.DenyList
	Log    *slog.Logger
	// Metrics counts refreshes; nil counts nothing.
	Metrics Recorder
	// Audit records sign-ins, refreshes and ended sessions; nil records
	// nothing.
	Audit *audit.Trail
	// Clock is the time every rule here reads; nil is time.Now.
	Clock func() time.Time
	// Dialect is DB's (dialect.Postgres or dialect.SQLite): a refresh
	// then reads its token with a statement made once; "" makes it
	// through ent's builder every time.
	Dialect string
}

// Service starts, rotates, lists and ends sessions.
type Service struct {
	db      *ent.Client
	tokens  *token.Issuer
	deny    token.DenyList
	log     *slog.Logger
	metrics Recorder
	audit   *audit.Trail
	now     func() time.Time
	set     Settings
	dialect string
}

// New returns the session service.
func New(d Deps, set Settings) *Service {
	s := &Service{db: d.DB, tokens: d.Tokens, deny: d.Deny, log: d.Log, metrics: d.Metrics, audit: d.Audit, now: d.Clock, set: set, dialect: d.Dialect}
	if s.metrics == nil {
		s.metrics = nopRecorder{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

type nopRecorder struct{}

func (nopRecorder) Refresh(string) {}

// Presented is the refresh token an operation acts on, as the request gave
// it: the argument, or else the refresh cookie.
type Presented struct {
	// Token is the refresh token; "" when the request has none.
	Token string
	// CookieSession is set when Token came from the refresh cookie: the
	// session its CSRF value was signed for, which the HTTP layer has
	// verified. The token must belong to that session, or a planted
	// cookie could act on someone else's session.
	CookieSession *uuid.UUID
	// Err is why the refresh cookie cannot be used (a missing or wrong
	// CSRF header); reported when the operation needs the cookie.
	Err error
}

// FromCookie reports whether the token came from the refresh cookie.
func (p Presented) FromCookie() bool { return p.CookieSession != nil }

// errCookieSession refuses a refresh cookie whose CSRF value was signed
// for another session than the token's.
var errCookieSession = apierr.New(apierr.Forbidden, "missing or wrong X-CSRF-Token header: a request that uses the refresh cookie must echo the gqlauth_csrf cookie in it")

// checkSession refuses a token taken from the cookie unless the CSRF
// value that came with it was signed for sid, the token's own session.
func (p Presented) checkSession(sid uuid.UUID) error {
	if p.CookieSession != nil && *p.CookieSession != sid {
		return errCookieSession
	}
	return nil
}

// Tokens are what a successful sign-up, sign-in, refresh or password
// change hands out. The HTTP layer puts RefreshToken in the refresh
// cookie (with a CSRF value for SessionID) until RefreshExpires.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn      int
	User           *ent.User
	SessionID      uuid.UUID
	RefreshExpires time.Time
	// AAL is the session's assurance level (1 or 2) the tokens carry.
	AAL int
}

// Issued is a session's new refresh token, stored in a transaction that
// has not committed yet. HandOut turns it into Tokens after the commit,
// so that no client holds a token that was never stored.
type Issued struct {
	user      *ent.User
	sessionID uuid.UUID
	refresh   string
	expires   time.Time
	// level is what the session had proved when the token was stored.
	level level
}

// level is a session's assurance: its level, methods and auth time, as
// the access tokens carry them.
type level struct {
	aal      int
	amr      []string
	authTime time.Time
}

// levelOf reads sess's assurance; a session older than the auth_time
// column counts from its sign-in.
func levelOf(sess *ent.Session) level {
	l := level{aal: sess.Aal, amr: sess.Amr, authTime: sess.CreatedAt}
	if sess.AuthTime != nil {
		l.authTime = *sess.AuthTime
	}
	if l.aal < 1 {
		l.aal = 1
	}
	return l
}

// SessionID is the session the token belongs to.
func (is Issued) SessionID() uuid.UUID { return is.sessionID }

var (
	errRefreshInvalid  = apierr.New(apierr.Unauthenticated, "invalid, expired or revoked refresh token")
	errRefreshMissing  = apierr.New(apierr.Unauthenticated, "a refresh token is required (argument or cookie)")
	errSessionExpired  = apierr.New(apierr.Unauthenticated, "the session has reached its maximum lifetime; sign in again")
	errSessionIdle     = apierr.New(apierr.Unauthenticated, "the session has been idle too long; sign in again")
	errReuseDetected   = apierr.New(apierr.Unauthenticated, "refresh token reuse detected; the session has been revoked")
	errRefreshNotFound = apierr.New(apierr.NotFound, "refresh token not found")
	errSessionNotFound = apierr.New(apierr.NotFound, "session not found")
)

// Start creates a session for u, whose password the caller has just
// checked, with its first refresh token, in the caller's transaction. The
// session is AAL1: a user with a verified second factor must step it up
// (Prove, through verifyMfa) before it does more than the @aal1 fields
// allow.
func (s *Service) Start(ctx context.Context, tx *ent.Tx, u *ent.User) (Issued, error) {
	return s.StartWith(ctx, tx, u, MethodPassword)
}

// StartWith is Start for a sign-in proved by method (an RFC 8176 amr
// value). Whatever the method, the session starts at AAL1: the hook a
// password reset or an email-code sign-in uses, so that neither ever
// skips the second factor (ASVS 6.4.3).
func (s *Service) StartWith(ctx context.Context, tx *ent.Tx, u *ent.User, method string) (Issued, error) {
	return s.StartProved(ctx, tx, u, Proof{AAL: 1, Methods: []string{method}})
}

// StartProved is Start for a sign-in that proved p at once: a passkey
// with user verification starts an AAL2 session (amr hwk or swk, and
// user).
func (s *Service) StartProved(ctx context.Context, tx *ent.Tx, u *ent.User, p Proof) (Issued, error) {
	now := s.now()
	info := request.From(ctx)
	c := tx.Session.Create().
		SetID(schema.NewID()).
		SetUserID(u.ID).
		SetCreatedAt(now).
		SetLastSeenAt(now).
		SetExpiresAt(now.Add(s.set.MaxLifetime)).
		SetAal(max(p.AAL, 1)).
		SetAmr(p.Methods).
		SetAuthTime(now)
	if info.UserAgent != "" {
		c.SetUserAgent(truncate(info.UserAgent, 512))
	}
	if info.IP != "" {
		c.SetIP(truncate(info.IP, 64))
	}
	sess, err := c.Save(ctx)
	if err != nil {
		return Issued{}, fmt.Errorf("store session: %w", err)
	}
	raw, hash := token.NewRefreshToken()
	return s.storeToken(ctx, tx, u, sess, now, schema.NewID(), raw, hash)
}

// deadline is when sess ends however often it refreshes: its sign-in
// plus SESSION_MAX_LIFETIME as configured now, so that lowering the
// setting shortens the sessions already running.
func (s *Service) deadline(sess *ent.Session) time.Time {
	return sess.CreatedAt.Add(s.set.MaxLifetime)
}

// storeToken inserts a refresh token of sess. Like every token of the
// session, it expires no later than the session, so that neither the
// token nor its cookie outlives a session that has already ended.
func (s *Service) storeToken(ctx context.Context, tx *ent.Tx, u *ent.User, sess *ent.Session, now time.Time, id uuid.UUID, raw string, hash []byte) (Issued, error) {
	is, ua, ip := s.newToken(ctx, u, sess, now, raw)
	err := tx.RefreshToken.Create().
		SetID(id).
		SetUserID(u.ID).
		SetTokenHash(hash).
		SetSessionID(sess.ID).
		SetCreatedAt(now).
		SetExpiresAt(is.expires).
		SetNillableUserAgent(ua).
		SetNillableIP(ip).
		Exec(ctx)
	if err != nil {
		return Issued{}, fmt.Errorf("store refresh token: %w", err)
	}
	return is, nil
}

// newToken is what a new refresh token raw of sess hands out, and the
// client it goes to (nil when the request did not say), as stored with
// it: the expiry rule of storeToken, written once for both ways a token
// is stored.
func (s *Service) newToken(ctx context.Context, u *ent.User, sess *ent.Session, now time.Time, raw string) (is Issued, userAgent, ip *string) {
	is = Issued{user: u, sessionID: sess.ID, refresh: raw, expires: earliest(now.Add(s.set.RefreshTokenTTL), s.deadline(sess)), level: levelOf(sess)}
	info := request.From(ctx)
	if info.UserAgent != "" {
		v := truncate(info.UserAgent, 512)
		userAgent = &v
	}
	if info.IP != "" {
		v := truncate(info.IP, 64)
		ip = &v
	}
	return is, userAgent, ip
}

// HandOut signs the access token of a session whose refresh token the
// caller has committed.
func (s *Service) HandOut(is Issued) (*Tokens, error) {
	access, _, err := s.tokens.Issue(token.Subject{
		UserID:    is.user.ID,
		SessionID: is.sessionID,
		Role:      string(is.user.Role),
		Email:     is.user.Email,
		Username:  is.user.Username,
		AAL:       is.level.aal,
		AMR:       is.level.amr,
		AuthTime:  is.level.authTime,
		// The address is verified when it was proven (verifyEmail, a
		// reset, a confirmed change).
		EmailVerified: is.user.EmailVerifiedAt != nil,
	})
	if err != nil {
		return nil, err
	}
	return &Tokens{
		AccessToken:    access,
		RefreshToken:   is.refresh,
		ExpiresIn:      int(s.tokens.TTL().Seconds()),
		User:           is.user,
		SessionID:      is.sessionID,
		RefreshExpires: is.expires,
		AAL:            max(is.level.aal, 1),
	}, nil
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// truncate makes a client-supplied header safe to store (request.Truncate).
func truncate(s string, n int) string { return request.Truncate(s, n) }
