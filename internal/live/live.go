// Package live streams session events to the browser: the subscription
// sessionEvents tells a signed-in client at once that its session was
// revoked (logout elsewhere, revokeSession, reuse detected, a password
// change, a deleted account) or that its role changed, so that a single
// page app can sign out without waiting for its next request to fail.
//
// Events come from the audit trail after their transaction committed
// (Hub implements audit.Listener) and travel between instances through
// Redis pub/sub when REDIS_URL is set, in process otherwise. They are a
// courtesy to the client, not the enforcement: a revoked session's
// access tokens are refused by the deny list whether or not its stream
// heard of it, and an event published while Redis is unreachable is lost.
package live

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/policy"
)

// EventType is what happened to a session (the GraphQL enum
// SessionEventType).
type EventType string

// The event types.
const (
	// Revoked: the session ended; the stream closes after it.
	Revoked EventType = "REVOKED"
	// RoleChanged: the user's role changed; a new access token carries it.
	RoleChanged EventType = "ROLE_CHANGED"
	// MFASteppedUp: the session reached a higher assurance level.
	MFASteppedUp EventType = "MFA_STEPPED_UP"
)

// Event is one live session event.
type Event struct {
	Type   EventType `json:"type"`
	UserID uuid.UUID `json:"userId"`
	// SessionID is the session it concerns; uuid.Nil for every session of
	// the user.
	SessionID uuid.UUID `json:"sessionId"`
	At        time.Time `json:"at"`
}

// Recorder counts open streams, for metrics; *metrics.Metrics implements it.
type Recorder interface {
	LiveStreams(n int)
}

// MaxPerUser is how many streams one user may hold open on one instance:
// a few tabs and devices, not a flood.
const MaxPerUser = 10

// Settings bound the open streams of one instance.
type Settings struct {
	// MaxConnections bounds them all (SSE_MAX_CONNECTIONS); 0 refuses
	// every subscription.
	MaxConnections int
	// MaxPerUser bounds those of one user (SSE_MAX_CONNECTIONS_PER_USER).
	MaxPerUser int
}

// Deps are what the hub works with.
type Deps struct {
	DB *ent.Client
	// Redis carries events between instances; nil keeps them in process.
	Redis  redis.UniversalClient
	Prefix string
	Log    *slog.Logger
	// Metrics counts open streams; nil counts nothing.
	Metrics Recorder
	// Clock is the time every rule here reads; nil is time.Now.
	Clock func() time.Time
}

// Hub fans session events out to the open streams of this instance.
type Hub struct {
	db      *ent.Client
	rdb     redis.UniversalClient
	channel string
	log     *slog.Logger
	metrics Recorder
	now     func() time.Time
	set     Settings

	mu     sync.Mutex
	subs   map[uuid.UUID]map[*stream]struct{} // by user
	open   int
	closed bool
	done   chan struct{}
}

var _ audit.Listener = (*Hub)(nil)

// New returns the hub.
func New(d Deps, set Settings) *Hub {
	h := &Hub{db: d.DB, rdb: d.Redis, channel: d.Prefix + "session-events", log: d.Log, metrics: d.Metrics,
		now: d.Clock, set: set, subs: map[uuid.UUID]map[*stream]struct{}{}, done: make(chan struct{})}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// stream is one open subscription.
type stream struct {
	user, session uuid.UUID
	in            chan Event
}

var (
	errTooMany     = apierr.New(apierr.TooManyRequests, "too many open session-event streams; close one and try again")
	errUnavailable = apierr.New(apierr.ServiceUnavailable, "live session events are off on this server")
)

// Subscribe opens a stream of the events of the caller's session. It
// closes after REVOKED, when the caller's access token expires (the
// client refreshes and subscribes again), when ctx ends, and when the
// hub closes.
func (h *Hub) Subscribe(ctx context.Context) (<-chan *Event, error) {
	v, err := policy.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	s := &stream{user: v.UserID, session: v.SessionID, in: make(chan Event, 8)}
	if err := h.add(s); err != nil {
		return nil, err
	}
	// An event published between the token check and add is not missed:
	// look at the session once more, now that the stream listens.
	if sess, err := h.db.Session.Get(ctx, v.SessionID); ent.IsNotFound(err) || (err == nil && sess.RevokedAt != nil) {
		s.in <- Event{Type: Revoked, UserID: v.UserID, SessionID: v.SessionID, At: h.now()}
	}
	var expires time.Time
	if v.Claims != nil && v.Claims.ExpiresAt != nil {
		expires = v.Claims.ExpiresAt.Time
	}
	out := make(chan *Event, 1)
	go func() {
		defer close(out)
		defer h.remove(s)
		var expiry <-chan time.Time
		if !expires.IsZero() {
			t := time.NewTimer(expires.Sub(h.now()))
			defer t.Stop()
			expiry = t.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-h.done:
				return
			case <-expiry:
				return
			case ev := <-s.in:
				select {
				case out <- &ev:
				case <-ctx.Done():
					return
				}
				if ev.Type == Revoked {
					return
				}
			}
		}
	}()
	return out, nil
}

// add registers s within the connection limits.
func (h *Hub) add(s *stream) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.set.MaxConnections == 0 {
		return errUnavailable
	}
	if h.open >= h.set.MaxConnections || (h.set.MaxPerUser > 0 && len(h.subs[s.user]) >= h.set.MaxPerUser) {
		return errTooMany
	}
	if h.subs[s.user] == nil {
		h.subs[s.user] = map[*stream]struct{}{}
	}
	h.subs[s.user][s] = struct{}{}
	h.open++
	if h.metrics != nil {
		h.metrics.LiveStreams(h.open)
	}
	return nil
}

func (h *Hub) remove(s *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s.user][s]; !ok {
		return
	}
	delete(h.subs[s.user], s)
	if len(h.subs[s.user]) == 0 {
		delete(h.subs, s.user)
	}
	h.open--
	if h.metrics != nil {
		h.metrics.LiveStreams(h.open)
	}
}

// Open is how many streams are open on this instance.
func (h *Hub) Open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open
}

// dispatch hands ev to the streams it concerns. A stream whose client
// reads too slowly to take it misses it rather than holding up the others.
func (h *Hub) dispatch(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[ev.UserID] {
		if ev.SessionID != uuid.Nil && ev.SessionID != s.session {
			continue
		}
		select {
		case s.in <- ev:
		default:
		}
	}
}

// EventCommitted turns a committed audit event into a live event, if it
// is one, and publishes it (implements audit.Listener).
func (h *Hub) EventCommitted(ev *ent.AuditEvent) {
	e, ok := fromAudit(ev)
	if !ok {
		return
	}
	if h.rdb == nil {
		h.dispatch(e)
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := h.rdb.Publish(ctx, h.channel, b).Err(); err != nil {
			h.log.Warn("publish live session event", "type", e.Type, "error", err)
		}
	}()
}

// fromAudit is the live event of an audit event, if any.
func fromAudit(ev *ent.AuditEvent) (Event, bool) {
	if ev.UserID == nil {
		return Event{}, false
	}
	e := Event{UserID: *ev.UserID, At: ev.OccurredAt}
	switch ev.Type {
	case audit.SessionRevoked, audit.SessionReuseDetected:
		if ev.SessionID == nil {
			return Event{}, false
		}
		e.Type, e.SessionID = Revoked, *ev.SessionID
	case audit.UserDeleted:
		e.Type = Revoked
	case audit.UserRoleChanged:
		e.Type = RoleChanged
	case audit.MFAVerified:
		if ev.SessionID == nil {
			return Event{}, false
		}
		e.Type, e.SessionID = MFASteppedUp, *ev.SessionID
	default:
		return Event{}, false
	}
	return e, true
}

// Run receives the events other instances publish through Redis until
// ctx ends; without Redis it only waits. go-redis resubscribes after a
// lost connection.
func (h *Hub) Run(ctx context.Context) {
	if h.rdb == nil {
		<-ctx.Done()
		return
	}
	ps := h.rdb.Subscribe(ctx, h.channel)
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			var e Event
			if err := json.Unmarshal([]byte(msg.Payload), &e); err != nil {
				h.log.Warn("malformed live session event", "error", err)
				continue
			}
			h.dispatch(e)
		}
	}
}

// Close ends every open stream and refuses new ones: a server that
// shuts down lets its clients reconnect elsewhere.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}
