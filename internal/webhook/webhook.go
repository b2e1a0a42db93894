// Package webhook delivers the audit events to the endpoints of
// WEBHOOK_URLS, signed as the Standard Webhooks specification says
// (https://www.standardwebhooks.com): at least once, nothing lost.
//
// Enqueue inserts one outbox row (ent WebhookDelivery) per event and
// endpoint in the event's own transaction, so an event that commits is
// delivered and one that rolls back never is. Run is the worker: it
// leases due rows (FOR UPDATE SKIP LOCKED on PostgreSQL, so two
// instances never post the same row at once), posts them with a timeout,
// and marks them delivered, or retries with exponential backoff and
// jitter, or after WEBHOOK_MAX_ATTEMPTS marks them failed and logs it.
// Deliveries of one user to one endpoint go out in order.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/schema"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/token"
)

// The delivery formats (WEBHOOK_FORMAT).
const (
	// FormatStandard posts the event as JSON.
	FormatStandard = "standard"
	// FormatCAEP posts RFC 8417 Security Event Tokens with the OpenID
	// CAEP event types (RFC 8935 push delivery), for receivers of the
	// Shared Signals Framework.
	FormatCAEP = "caep"
)

// Settings are the WEBHOOK_ settings.
type Settings struct {
	URLs []string
	// Key is the HMAC-SHA256 key (WEBHOOK_SECRET without whsec_, decoded).
	Key []byte
	// Events are the types sent; empty is every type but session.refreshed.
	Events      []string
	Format      string
	MaxAttempts int
	RetryBase   time.Duration
	// Timeout bounds one attempt (WEBHOOK_TIMEOUT).
	Timeout time.Duration
	// Issuer is the iss of Security Event Tokens (JWT_ISSUER).
	Issuer string
}

// Recorder counts deliveries, for metrics; *metrics.Metrics implements it.
type Recorder interface {
	// WebhookDelivery records one attempt's result: delivered, retried
	// or failed.
	WebhookDelivery(result string)
	// WebhookQueueAge records how long the oldest due delivery has waited.
	WebhookQueueAge(d time.Duration)
}

// Deps are what the outbox works with.
type Deps struct {
	DB  *ent.Client
	Log *slog.Logger
	// Metrics counts deliveries; nil counts nothing.
	Metrics Recorder
	// Client posts the webhooks; nil is a client with no redirects.
	Client *http.Client
	// Clock is the time every rule here reads; nil is time.Now.
	Clock func() time.Time
	// Keys sign the Security Event Tokens of WEBHOOK_FORMAT=caep with
	// gqlauth's current signing key (its kid in the header, verifiable
	// through the JWKS); nil signs them HS256 with the WEBHOOK_SECRET key.
	Keys CurrentKey
}

// CurrentKey is the signing key in use (*token.KeySet).
type CurrentKey interface{ Current() *token.Key }

// Outbox queues and delivers webhooks. It implements audit.Outbox.
type Outbox struct {
	db      *ent.Client
	log     *slog.Logger
	metrics Recorder
	client  *http.Client
	now     func() time.Time
	keys    CurrentKey
	set     Settings
	events  map[string]bool
	wake    chan struct{}
}

var _ audit.Outbox = (*Outbox)(nil)

// New returns the outbox of set, or nil when there are no URLs. An
// unknown event type in set.Events is an error.
func New(d Deps, set Settings) (*Outbox, error) {
	if len(set.URLs) == 0 {
		return nil, nil
	}
	o := &Outbox{db: d.DB, log: d.Log, metrics: d.Metrics, client: d.Client, now: d.Clock, keys: d.Keys, set: set,
		events: map[string]bool{}, wake: make(chan struct{}, 1)}
	for i, u := range set.URLs {
		set.URLs[i] = strings.TrimSpace(u)
	}
	for _, e := range set.Events {
		e = strings.TrimSpace(e)
		if !audit.KnownType(e) {
			return nil, fmt.Errorf("WEBHOOK_EVENTS: unknown event type %q (docs/audit.md lists them)", e)
		}
		o.events[e] = true
	}
	if len(o.events) == 0 {
		for _, e := range audit.Types {
			o.events[e] = e != audit.SessionRefreshed
		}
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.metrics == nil {
		o.metrics = nopRecorder{}
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.client == nil {
		o.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return o, nil
}

type nopRecorder struct{}

func (nopRecorder) WebhookDelivery(string)        {}
func (nopRecorder) WebhookQueueAge(time.Duration) {}

// Message is the JSON body of a standard webhook: the Standard Webhooks
// envelope (type, timestamp, data) around the audit event.
type Message struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is an audit event as webhooks carry it.
type EventData struct {
	ID         uuid.UUID      `json:"id"`
	OccurredAt time.Time      `json:"occurredAt"`
	Type       string         `json:"type"`
	Actor      string         `json:"actor"`
	UserID     *uuid.UUID     `json:"userId,omitempty"`
	SessionID  *uuid.UUID     `json:"sessionId,omitempty"`
	IP         *string        `json:"ip,omitempty"`
	UserAgent  *string        `json:"userAgent,omitempty"`
	RequestID  *string        `json:"requestId,omitempty"`
	Details    map[string]any `json:"details,omitempty"`
}

// Enqueue inserts the deliveries of ev, one per endpoint, in tx
// (implements audit.Outbox). Events of types not sent are skipped.
func (o *Outbox) Enqueue(ctx context.Context, tx *ent.Tx, ev *ent.AuditEvent) error {
	if !o.events[ev.Type] {
		return nil
	}
	payload, ok, err := o.render(ev)
	if err != nil || !ok {
		return err
	}
	key := ev.ID.String()
	if ev.UserID != nil {
		key = ev.UserID.String()
	}
	now := o.now()
	rows := make([]*ent.WebhookDeliveryCreate, 0, len(o.set.URLs))
	for _, u := range o.set.URLs {
		rows = append(rows, tx.WebhookDelivery.Create().
			SetID(schema.NewID()).
			SetEventID(ev.ID).
			SetEndpoint(u).
			SetOrderingKey(key).
			SetPayload(payload).
			SetCreatedAt(now).
			SetNextAttemptAt(now))
	}
	if err := tx.WebhookDelivery.CreateBulk(rows...).Exec(ctx); err != nil {
		return fmt.Errorf("queue webhooks: %w", err)
	}
	return nil
}

// render is what a delivery of ev carries: the standard JSON body, or the
// claims of a Security Event Token (signed when posted). ok is false
// when the format has no event for ev's type.
func (o *Outbox) render(ev *ent.AuditEvent) ([]byte, bool, error) {
	if o.set.Format == FormatCAEP {
		claims, ok := caepClaims(ev, o.set.Issuer)
		if !ok {
			return nil, false, nil
		}
		b, err := json.Marshal(claims)
		return b, true, err
	}
	b, err := json.Marshal(Message{Type: ev.Type, Timestamp: ev.OccurredAt.UTC(), Data: Data(ev)})
	return b, true, err
}

// Data is ev as webhooks carry it.
func Data(ev *ent.AuditEvent) EventData {
	return EventData{
		ID: ev.ID, OccurredAt: ev.OccurredAt.UTC(), Type: ev.Type, Actor: ev.Actor,
		UserID: ev.UserID, SessionID: ev.SessionID, IP: ev.IP, UserAgent: ev.UserAgent,
		RequestID: ev.RequestID, Details: ev.Details,
	}
}

// Wake tells the worker that deliveries have committed (implements
// audit.Outbox), so that they go out at once rather than at the next poll.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}
