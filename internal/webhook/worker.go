package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/predicate"
	"github.com/gqlauth/gqlauth/ent/webhookdelivery"
	"github.com/gqlauth/gqlauth/internal/database"
)

// Results passed to Recorder.WebhookDelivery.
const (
	ResultDelivered = "delivered"
	ResultRetried   = "retried"
	ResultFailed    = "failed"
)

const (
	// batch is how many deliveries one pass leases; they are posted
	// concurrently (no two of one user and endpoint in a pass).
	batch = 16
	// pollInterval is how often the worker looks for due retries and for
	// rows other instances queued.
	pollInterval = time.Second
	// maxBackoff caps the delay between two attempts.
	maxBackoff = 6 * time.Hour
)

// Run delivers due webhooks until ctx ends: at once when Wake says rows
// have committed, else every second. Rows a stopped or killed worker had
// leased go out again when their lease ends.
func (o *Outbox) Run(ctx context.Context) {
	if o == nil {
		return
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		n, err := o.deliverDue(ctx)
		if err != nil && ctx.Err() == nil {
			o.log.ErrorContext(ctx, "webhook delivery pass failed", "error", err)
		}
		if n > 0 {
			continue // more may be due: the next of a user's events, or the next batch
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-tick.C:
		}
	}
}

// deliverDue leases the due deliveries and posts them, returning how
// many it leased.
func (o *Outbox) deliverDue(ctx context.Context) (int, error) {
	o.measureQueue(ctx)
	rows, lease, err := o.lease(ctx)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, d := range rows {
		wg.Go(func() { o.attempt(ctx, d, lease) })
	}
	wg.Wait()
	return len(rows), nil
}

// lease takes up to batch due deliveries: pending, due, not leased by
// another worker, and the oldest pending one of their user and endpoint
// (so a user's events keep their order, also across retries). On
// PostgreSQL the rows are locked FOR UPDATE SKIP LOCKED while the lease is
// written, so concurrent workers take disjoint rows; SQLite runs one
// writer at a time.
func (o *Outbox) lease(ctx context.Context) ([]*ent.WebhookDelivery, time.Time, error) {
	now := o.now()
	// Twice the timeout of an attempt: long enough that no other worker
	// takes a row still being posted, short enough that the rows of a
	// crashed worker go out again soon. Whole microseconds: the lease is
	// compared for equality after a round trip through PostgreSQL, which
	// keeps no more.
	until := now.Add(2 * o.set.Timeout).Truncate(time.Microsecond)
	var rows []*ent.WebhookDelivery
	err := database.WithTx(ctx, o.db, func(tx *ent.Tx) error {
		var err error
		rows, err = tx.WebhookDelivery.Query().
			Where(
				webhookdelivery.StatusEQ(webhookdelivery.StatusPending),
				webhookdelivery.NextAttemptAtLTE(now),
				webhookdelivery.Or(webhookdelivery.LeasedUntilIsNil(), webhookdelivery.LeasedUntilLT(now)),
				headOfQueue,
				predicate.WebhookDelivery(skipLocked),
			).
			Order(ent.Asc(webhookdelivery.FieldID)).
			Limit(batch).
			All(ctx)
		if err != nil || len(rows) == 0 {
			return err
		}
		ids := make([]uuid.UUID, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		return tx.WebhookDelivery.Update().Where(webhookdelivery.IDIn(ids...)).SetLeasedUntil(until).Exec(ctx)
	})
	if err != nil {
		return nil, until, fmt.Errorf("lease webhook deliveries: %w", err)
	}
	return rows, until, nil
}

// headOfQueue keeps the deliveries that no older pending delivery of the
// same user and endpoint waits before.
func headOfQueue(s *entsql.Selector) {
	t := entsql.Table(webhookdelivery.Table).As("older")
	s.Where(entsql.NotExists(entsql.Select(t.C(webhookdelivery.FieldID)).From(t).Where(entsql.And(
		entsql.ColumnsEQ(t.C(webhookdelivery.FieldEndpoint), s.C(webhookdelivery.FieldEndpoint)),
		entsql.ColumnsEQ(t.C(webhookdelivery.FieldOrderingKey), s.C(webhookdelivery.FieldOrderingKey)),
		entsql.EQ(t.C(webhookdelivery.FieldStatus), webhookdelivery.StatusPending),
		entsql.ColumnsLT(t.C(webhookdelivery.FieldID), s.C(webhookdelivery.FieldID)),
	))))
}

// skipLocked locks the selected rows and skips those another transaction
// holds, on PostgreSQL.
func skipLocked(s *entsql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate(entsql.WithLockAction(entsql.SkipLocked))
	}
}

// attempt posts d once and records the outcome: delivered, a retry
// after a backoff, or failed after the last attempt. The update is
// conditioned on the lease, so a worker that outlived its lease does not
// overwrite another's outcome.
func (o *Outbox) attempt(ctx context.Context, d *ent.WebhookDelivery, lease time.Time) {
	err := o.post(ctx, d)
	if ctx.Err() != nil {
		return // stopping: the lease runs out and the row goes out again
	}
	now := o.now()
	n := d.Attempts + 1
	upd := o.db.WebhookDelivery.Update().
		Where(webhookdelivery.ID(d.ID), webhookdelivery.LeasedUntil(lease)).
		SetAttempts(n).ClearLeasedUntil()
	result := ResultDelivered
	switch {
	case err == nil:
		upd.SetStatus(webhookdelivery.StatusDelivered).SetDeliveredAt(now).ClearLastError()
	case n >= o.set.MaxAttempts:
		result = ResultFailed
		upd.SetStatus(webhookdelivery.StatusFailed).SetLastError(truncate(err.Error(), 512))
		o.log.ErrorContext(ctx, "webhook delivery failed for good", "delivery_id", d.ID, "event_id", d.EventID,
			"endpoint", d.Endpoint, "attempts", n, "error", err)
	default:
		result = ResultRetried
		upd.SetNextAttemptAt(now.Add(o.backoff(n))).SetLastError(truncate(err.Error(), 512))
		o.log.WarnContext(ctx, "webhook delivery will be retried", "delivery_id", d.ID, "event_id", d.EventID,
			"endpoint", d.Endpoint, "attempts", n, "error", err)
	}
	if err := upd.Exec(ctx); err != nil {
		o.log.ErrorContext(ctx, "record webhook delivery", "delivery_id", d.ID, "error", err)
		return
	}
	o.metrics.WebhookDelivery(result)
}

// backoff is the delay after the nth failed attempt: RetryBase doubled
// n-1 times, capped at maxBackoff, then spread by ±20% so that the
// retries of a burst do not arrive together.
func (o *Outbox) backoff(n int) time.Duration {
	d := o.set.RetryBase
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// post sends d with the Standard Webhooks headers, within the timeout. A
// 2xx answer is a delivery; anything else, or no answer, is an error.
func (o *Outbox) post(ctx context.Context, d *ent.WebhookDelivery) error {
	now := o.now()
	body, contentType := d.Payload, "application/json"
	if o.set.Format == FormatCAEP {
		var err error
		if body, err = signSET(o.keys, o.set.Key, d.Payload, d.Endpoint, now); err != nil {
			return fmt.Errorf("sign security event token: %w", err)
		}
		contentType = "application/" + SETType
	}
	ctx, cancel := context.WithTimeout(ctx, o.set.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	id := d.EventID.String()
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "gqlauth-webhooks")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(o.set.Key, id, now, body))
	resp, err := o.client.Do(req)
	if err != nil {
		return errors.Unwrap(err) // the *url.Error would repeat the URL
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}

// measureQueue reports the age of the oldest pending delivery.
func (o *Outbox) measureQueue(ctx context.Context) {
	oldest, err := o.db.WebhookDelivery.Query().
		Where(webhookdelivery.StatusEQ(webhookdelivery.StatusPending)).
		Order(ent.Asc(webhookdelivery.FieldCreatedAt)).
		Select(webhookdelivery.FieldCreatedAt).
		First(ctx)
	switch {
	case ent.IsNotFound(err):
		o.metrics.WebhookQueueAge(0)
	case err == nil:
		o.metrics.WebhookQueueAge(o.now().Sub(oldest.CreatedAt))
	}
}

// DeleteOld deletes the deliveries that were delivered or failed more
// than retention ago (AUDIT_RETENTION, like their events).
func (o *Outbox) DeleteOld(ctx context.Context, retention time.Duration) (int, error) {
	if o == nil || retention <= 0 {
		return 0, nil
	}
	n, err := o.db.WebhookDelivery.Delete().Where(
		webhookdelivery.StatusNEQ(webhookdelivery.StatusPending),
		webhookdelivery.CreatedAtLT(o.now().Add(-retention)),
	).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("delete old webhook deliveries: %w", err)
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
