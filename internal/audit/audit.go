// Package audit is gqlauth's audit trail: an append-only record of who
// signed in from where, which session was ended by whom, which role or
// password changed. Each event is written in the transaction of the
// change it records (Record), so that the change and its event commit
// together or not at all; a failed sign-in, which changes nothing, is
// written on its own (RecordAlone). Webhook deliveries (internal/webhook)
// are queued in the same transaction, and live session events
// (internal/live) are told after the commit.
//
// Details never hold a secret: no password, token, code, hash or cookie.
package audit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/schema"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/request"
)

// The event types (docs/audit.md describes each).
const (
	UserSignedUp         = "user.signed_up"
	UserSignedIn         = "user.signed_in"
	UserSignInFailed     = "user.sign_in_failed"
	UserLockedOut        = "user.locked_out"
	SessionRefreshed     = "session.refreshed"
	SessionReuseDetected = "session.reuse_detected"
	SessionRevoked       = "session.revoked"
	UserPasswordChanged  = "user.password_changed"
	UserEmailChanged     = "user.email_changed"
	UserProfileUpdated   = "user.profile_updated"
	UserRoleChanged      = "user.role_changed"
	UserDeleted          = "user.deleted"
	UserPasswordResetReq = "user.password_reset_requested"
	UserPasswordReset    = "user.password_reset"
	UserEmailVerified    = "user.email_verified"
	FactorEnrolled       = "factor.enrolled"
	FactorRemoved        = "factor.removed"
	MFAVerified          = "mfa.verified"
	MFAFailed            = "mfa.failed"
	RecoveryCodeUsed     = "recovery_code.used"
	// PasskeyCloneSuspected: a passkey's signature counter did not
	// increase; the sign-in was refused.
	PasskeyCloneSuspected = "factor.passkey.clone_suspected"
	SigningKeyRotated     = "signing_key.rotated"
	SigningKeyRevoked     = "signing_key.revoked"
)

// Types are every event type, in the order docs/audit.md lists them.
// Filters and WEBHOOK_EVENTS accept these names only.
var Types = []string{
	UserSignedUp, UserSignedIn, UserSignInFailed, UserLockedOut,
	SessionRefreshed, SessionReuseDetected, SessionRevoked,
	UserPasswordChanged, UserPasswordResetReq, UserPasswordReset,
	UserEmailVerified, UserEmailChanged, UserProfileUpdated, UserRoleChanged, UserDeleted,
	FactorEnrolled, FactorRemoved, MFAVerified, MFAFailed, RecoveryCodeUsed, PasskeyCloneSuspected,
	SigningKeyRotated, SigningKeyRevoked,
}

// KnownType reports whether t is one of Types.
func KnownType(t string) bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// Actors that are not a user.
const (
	// ActorSystem is gqlauth itself: reuse detection, housekeeping.
	ActorSystem = "system"
	// ActorCLI is the operator's command line (`gqlauth user …`).
	ActorCLI = "cli"
)

// User is the actor string of a user.
func User(id uuid.UUID) string { return id.String() }

// Event is what a service records. IP, user agent and request id come
// from the request (internal/request).
type Event struct {
	// Type is one of the type constants.
	Type string
	// Actor is who did it; "" means the subject user (UserID) acting on
	// themself, or ActorSystem when there is no subject.
	Actor string
	// UserID is the user it happened to; uuid.Nil for none.
	UserID uuid.UUID
	// SessionID is the session it concerns; uuid.Nil for none.
	SessionID uuid.UUID
	// Details are a few facts (a reason, a scope, field names), never a
	// secret.
	Details map[string]any
}

// Outbox queues the deliveries of an event in its transaction
// (internal/webhook implements it).
type Outbox interface {
	// Enqueue inserts the event's deliveries in tx; events it does not
	// send are ignored.
	Enqueue(ctx context.Context, tx *ent.Tx, ev *ent.AuditEvent) error
	// Wake tells the delivery worker that rows have committed.
	Wake()
}

// Listener is told of events after they committed (internal/live
// implements it, to end the live streams of revoked sessions).
type Listener interface {
	EventCommitted(ev *ent.AuditEvent)
}

// Deps are what the trail works with.
type Deps struct {
	DB *ent.Client
	// Outbox queues webhook deliveries; nil sends none.
	Outbox Outbox
	// Listener hears committed events; nil: none.
	Listener Listener
	// Refreshes records session.refreshed (AUDIT_REFRESHES); the
	// noisiest type, off by default.
	Refreshes bool
	Log       *slog.Logger
	// Clock is the time events are stamped with; nil is time.Now.
	Clock func() time.Time
}

// Trail records and reads the audit trail. A nil *Trail records nothing,
// for services built without one (tests, tools).
type Trail struct {
	db        *ent.Client
	outbox    Outbox
	listener  Listener
	refreshes bool
	log       *slog.Logger
	now       func() time.Time
}

// New returns the audit trail.
func New(d Deps) *Trail {
	t := &Trail{db: d.DB, outbox: d.Outbox, listener: d.Listener, refreshes: d.Refreshes, log: d.Log, now: d.Clock}
	if t.now == nil {
		t.now = time.Now
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	return t
}

// Record appends events in the caller's transaction tx: they commit with
// the change they record, or not at all. Their webhook deliveries are
// queued in tx too, and the listener hears of them after the commit.
func (t *Trail) Record(ctx context.Context, tx *ent.Tx, events ...Event) error {
	if t == nil {
		return nil
	}
	builders := make([]*ent.AuditEventCreate, 0, len(events))
	for _, e := range events {
		if e.Type == SessionRefreshed && !t.refreshes {
			continue
		}
		builders = append(builders, t.build(ctx, tx.AuditEvent.Create(), e))
	}
	if len(builders) == 0 {
		return nil
	}
	saved, err := tx.AuditEvent.CreateBulk(builders...).Save(ctx)
	if err != nil {
		return fmt.Errorf("record audit events: %w", err)
	}
	if t.outbox != nil {
		for _, ev := range saved {
			if err := t.outbox.Enqueue(ctx, tx, ev); err != nil {
				return err
			}
		}
	}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if err := next.Commit(ctx, tx); err != nil {
				return err
			}
			t.committed(saved)
			return nil
		})
	})
	return nil
}

// RecordAlone appends an event that no change goes with (a failed
// sign-in): one insert, or with webhooks a short transaction of the event
// and its deliveries. A failure is logged, not returned: the answer to
// the client does not depend on it.
func (t *Trail) RecordAlone(ctx context.Context, e Event) {
	if t == nil {
		return
	}
	var err error
	if t.outbox == nil {
		var ev *ent.AuditEvent
		ev, err = t.build(ctx, t.db.AuditEvent.Create(), e).Save(ctx)
		if err == nil {
			t.committed([]*ent.AuditEvent{ev})
		}
	} else {
		err = database.WithTx(ctx, t.db, func(tx *ent.Tx) error { return t.Record(ctx, tx, e) })
	}
	if err != nil {
		t.log.ErrorContext(ctx, "record audit event", "type", e.Type, "error", err)
	}
}

// committed tells the outbox and the listener of events that committed.
func (t *Trail) committed(evs []*ent.AuditEvent) {
	if t.outbox != nil {
		t.outbox.Wake()
	}
	if t.listener != nil {
		for _, ev := range evs {
			t.listener.EventCommitted(ev)
		}
	}
}

// build fills c with e and what the request says: client address, user
// agent, request id.
func (t *Trail) build(ctx context.Context, c *ent.AuditEventCreate, e Event) *ent.AuditEventCreate {
	actor := e.Actor
	if actor == "" {
		actor = ActorSystem
		if e.UserID != uuid.Nil {
			actor = User(e.UserID)
		}
	}
	c.SetID(schema.NewID()).SetOccurredAt(t.now()).SetType(e.Type).SetActor(actor)
	if e.UserID != uuid.Nil {
		c.SetUserID(e.UserID)
	}
	if e.SessionID != uuid.Nil {
		c.SetSessionID(e.SessionID)
	}
	info := request.From(ctx)
	if info.IP != "" {
		c.SetIP(request.Truncate(info.IP, 64))
	}
	if info.UserAgent != "" {
		c.SetUserAgent(request.Truncate(info.UserAgent, 512))
	}
	if id := request.ID(ctx); id != "" {
		c.SetRequestID(id)
	}
	if len(e.Details) > 0 {
		c.SetDetails(e.Details)
	}
	return c
}
