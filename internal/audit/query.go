package audit

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/auditevent"
	"github.com/gqlauth/gqlauth/ent/predicate"
	"github.com/gqlauth/gqlauth/internal/policy"
	"github.com/gqlauth/gqlauth/internal/validate"
)

// Page sizes of the audit connections.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Page is a connection's paging arguments: first/after pages to older
// events, last/before to newer ones.
type Page struct {
	First  *int
	After  *ent.Cursor
	Last   *int
	Before *ent.Cursor
}

// Filter narrows auditEvents: every condition given must hold.
type Filter struct {
	UserID *uuid.UUID
	Types  []string
	// From and To bound occurred_at: From <= occurred_at < To.
	From, To *time.Time
}

// Connection is a page of events, newest first. TotalCount runs its
// COUNT only when a client asks for it.
type Connection struct {
	Edges    []*Edge
	PageInfo ent.PageInfo
	count    *ent.AuditEventQuery
}

// Edge is one event of a page and its cursor.
type Edge struct {
	Node   *ent.AuditEvent
	Cursor ent.Cursor
}

// TotalCount is how many events match the filter, all pages together.
func (c *Connection) TotalCount(ctx context.Context) (int, error) {
	return c.count.Count(ctx)
}

// activityTypes are the events a user sees of their own account
// (securityActivity, OWASP ASVS 5.0 6.3.5 and 6.3.7): sign-ins and their
// failures, sessions ended, password, email, role and factor changes.
var activityTypes = []string{
	UserSignedUp, UserSignedIn, UserSignInFailed, UserLockedOut,
	SessionReuseDetected, SessionRevoked,
	UserPasswordChanged, UserPasswordResetReq, UserPasswordReset,
	UserEmailVerified, UserEmailChanged, UserProfileUpdated, UserRoleChanged,
	FactorEnrolled, FactorRemoved, MFAVerified, MFAFailed, RecoveryCodeUsed,
}

// Events pages through the whole trail, newest first, filtered. ADMIN
// only.
func (t *Trail) Events(ctx context.Context, p Page, f Filter) (*Connection, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := v.RequireAdmin(); err != nil {
		return nil, err
	}
	errs := validate.Errors{}
	var where []predicate.AuditEvent
	if f.UserID != nil {
		where = append(where, auditevent.UserID(*f.UserID))
	}
	if len(f.Types) > 0 {
		for _, typ := range f.Types {
			if !KnownType(typ) {
				errs.Add("where.types", "unknown event type "+typ)
				break
			}
		}
		where = append(where, auditevent.TypeIn(f.Types...))
	}
	if f.From != nil {
		where = append(where, auditevent.OccurredAtGTE(*f.From))
	}
	if f.To != nil {
		where = append(where, auditevent.OccurredAtLT(*f.To))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return t.page(ctx, p, where)
}

// Activity pages through the signed-in user's own security events,
// newest first.
func (t *Trail) Activity(ctx context.Context, p Page) (*Connection, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	return t.page(ctx, p, []predicate.AuditEvent{
		auditevent.UserID(v.UserID),
		auditevent.TypeIn(activityTypes...),
	})
}

// page runs a keyset page over the events matching where, newest first:
// WHERE id < after ORDER BY id DESC LIMIT first+1 (ids are UUIDv7, so
// id order is time order), or the mirror image for last/before. The
// extra row tells whether there is a next page; no COUNT runs.
func (t *Trail) page(ctx context.Context, p Page, where []predicate.AuditEvent) (*Connection, error) {
	errs := validate.Errors{}
	for name, n := range map[string]*int{"first": p.First, "last": p.Last} {
		if n != nil && (*n < 0 || *n > MaxPageSize) {
			errs.Add(name, "must be between 0 and 100")
		}
	}
	if p.First != nil && p.Last != nil {
		errs.Add("last", "give first or last, not both")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	backward := p.Last != nil || (p.First == nil && p.Before != nil)
	n := DefaultPageSize
	switch {
	case p.First != nil:
		n = *p.First
	case p.Last != nil:
		n = *p.Last
	}
	base := t.db.AuditEvent.Query().Where(where...)
	conn := &Connection{Edges: []*Edge{}, count: base.Clone()}
	q := base.Clone()
	if p.After != nil {
		q.Where(auditevent.IDLT(p.After.ID))
	}
	if p.Before != nil {
		q.Where(auditevent.IDGT(p.Before.ID))
	}
	if n == 0 {
		return conn, nil
	}
	if backward {
		q.Order(ent.Asc(auditevent.FieldID))
	} else {
		q.Order(ent.Desc(auditevent.FieldID))
	}
	rows, err := q.Limit(n + 1).All(ctx)
	if err != nil {
		return nil, err
	}
	more := len(rows) > n
	if more {
		rows = rows[:n]
	}
	if backward {
		slices.Reverse(rows)
		conn.PageInfo.HasPreviousPage = more
		conn.PageInfo.HasNextPage = p.Before != nil
	} else {
		conn.PageInfo.HasNextPage = more
		conn.PageInfo.HasPreviousPage = p.After != nil
	}
	for _, ev := range rows {
		conn.Edges = append(conn.Edges, &Edge{Node: ev, Cursor: ent.Cursor{ID: ev.ID}})
	}
	if len(conn.Edges) > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[len(conn.Edges)-1].Cursor
	}
	return conn, nil
}

// DeleteOld deletes the events that occurred more than retention ago
// (AUDIT_RETENTION): the one way events leave the trail. It returns how
// many it deleted.
func (t *Trail) DeleteOld(ctx context.Context, retention time.Duration) (int, error) {
	if t == nil || retention <= 0 {
		return 0, nil
	}
	n, err := t.db.AuditEvent.Delete().Where(auditevent.OccurredAtLT(t.now().Add(-retention))).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("delete old audit events: %w", err)
	}
	return n, nil
}
