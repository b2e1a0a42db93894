package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	netmail "net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/mailmessage"
	"github.com/gqlauth/gqlauth/ent/schema"
)

// OutboxSettings tune the delivery worker. Zero values take the defaults
// named on each field.
type OutboxSettings struct {
	// MaxAttempts is how many deliveries are tried before a message is
	// marked failed (MAIL_MAX_ATTEMPTS; default 8).
	MaxAttempts int
	// Backoff is the wait after the first failed attempt; it doubles with
	// each further one (MAIL_RETRY_BACKOFF; default 30s).
	Backoff time.Duration
	// MaxBackoff caps the wait (default 30m).
	MaxBackoff time.Duration
	// SendTimeout bounds one delivery, whatever the Sender (default 10s,
	// MAIL_TIMEOUT).
	SendTimeout time.Duration
	// Lease is how long a claimed message is withheld from the other
	// workers: if its worker dies mid-delivery, another tries it after
	// this. It must exceed SendTimeout (default 2 × SendTimeout + 10s).
	Lease time.Duration
	// PollInterval is how often the worker looks for due messages that no
	// commit in this process announced (default 5s).
	PollInterval time.Duration
	// Retention is how long sent and failed messages are kept (their
	// bodies already erased) before the worker deletes them (default 7d).
	Retention time.Duration
	// MessageIDDomain is the right side of every Message-ID (default
	// the domain of MAIL_FROM, as New sets it; else "localhost").
	MessageIDDomain string
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

func (s *OutboxSettings) defaults() {
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 8
	}
	if s.Backoff <= 0 {
		s.Backoff = 30 * time.Second
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = 30 * time.Minute
	}
	if s.SendTimeout <= 0 {
		s.SendTimeout = 10 * time.Second
	}
	if s.Lease <= s.SendTimeout {
		s.Lease = 2*s.SendTimeout + 10*time.Second
	}
	if s.PollInterval <= 0 {
		s.PollInterval = 5 * time.Second
	}
	if s.Retention <= 0 {
		s.Retention = 7 * 24 * time.Hour
	}
	if s.MessageIDDomain == "" {
		s.MessageIDDomain = "localhost"
	}
	if s.Now == nil {
		s.Now = time.Now
	}
}

// Outbox is the mail_messages table and the worker that empties it.
// Enqueue adds a message inside the caller's transaction; Run delivers.
// Several Outboxes (instances of gqlauth) may run on one database: each
// message is claimed by one of them at a time.
type Outbox struct {
	db      *ent.Client
	dialect string
	sender  Sender
	set     OutboxSettings
	log     *slog.Logger
	// wake is signalled after a transaction that enqueued commits.
	wake chan struct{}
}

// NewOutbox returns the outbox of db (dialect.Postgres or dialect.SQLite)
// that delivers through sender.
func NewOutbox(db *ent.Client, dia string, sender Sender, set OutboxSettings, log *slog.Logger) (*Outbox, error) {
	if dia != dialect.Postgres && dia != dialect.SQLite {
		return nil, fmt.Errorf("mail: outbox on unknown dialect %q", dia)
	}
	set.defaults()
	return &Outbox{db: db, dialect: dia, sender: sender, set: set, log: log, wake: make(chan struct{}, 1)}, nil
}

// Enqueue writes m to the outbox within tx, the transaction that also
// stores whatever m carries (a token's hash), so that the message exists
// exactly when the token does. It fixes m's Message-ID and Date, and
// wakes this process's worker once tx commits. m needs a Kind, a valid
// To, a Subject and a Text. It returns the message's id.
func (o *Outbox) Enqueue(ctx context.Context, tx *ent.Tx, m Message) (uuid.UUID, error) {
	if tx == nil {
		return uuid.Nil, errors.New("mail: Enqueue needs the caller's transaction")
	}
	if err := checkMessage(m); err != nil {
		return uuid.Nil, err
	}
	now := o.set.Now().UTC()
	id := schema.NewID()
	row, err := tx.MailMessage.Create().
		SetID(id).
		SetKind(string(m.Kind)).
		SetRecipient(m.To).
		SetSubject(m.Subject).
		SetTextBody(m.Text).
		SetHTMLBody(m.HTML).
		SetMessageID(id.String() + "@" + o.set.MessageIDDomain).
		SetNextAttemptAt(now).
		SetCreatedAt(now).
		Save(ctx)
	if err != nil {
		return uuid.Nil, fmt.Errorf("enqueue mail: %w", err)
	}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			err := next.Commit(ctx, tx)
			if err == nil {
				o.Wake()
			}
			return err
		})
	})
	return row.ID, nil
}

// checkMessage refuses what could not be sent or would corrupt headers.
func checkMessage(m Message) error {
	switch {
	case m.Kind == "":
		return errors.New("mail: message without a kind")
	case strings.TrimSpace(m.Text) == "":
		return errors.New("mail: message without a text part")
	case m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") || len(m.Subject) > 998:
		return errors.New("mail: the subject must be one line of at most 998 bytes")
	case len(m.To) > schema.MaxEmailBytes || !utf8.ValidString(m.To):
		return errors.New("mail: invalid recipient")
	}
	a, err := netmail.ParseAddress(m.To)
	if err != nil || a.Address != m.To {
		return errors.New("mail: the recipient must be a bare address")
	}
	return nil
}

// Wake makes the worker look for due messages now.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run delivers due messages until ctx ends: whenever a commit in this
// process enqueued one, and every PollInterval for those of other
// instances and retries; once an hour it deletes messages older than
// Retention. On ctx's end it finishes the delivery in flight (bounded by
// SendTimeout), records its outcome, and returns.
func (o *Outbox) Run(ctx context.Context) {
	poll := time.NewTicker(o.set.PollInterval)
	defer poll.Stop()
	var lastCleanup time.Time
	for {
		if _, err := o.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			o.log.ErrorContext(ctx, "mail outbox: delivering failed", "error", err)
		}
		if now := o.set.Now(); now.Sub(lastCleanup) >= time.Hour {
			lastCleanup = now
			if n, err := o.DeleteOld(ctx); err != nil && ctx.Err() == nil {
				o.log.ErrorContext(ctx, "mail outbox: housekeeping failed", "error", err)
			} else if n > 0 {
				o.log.InfoContext(ctx, "mail outbox: deleted old messages", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-poll.C:
		}
	}
}

// DeliverDue delivers every message that is due, one after another,
// until none is left or ctx ends, and returns how many it attempted.
func (o *Outbox) DeliverDue(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		m, err := o.claim(ctx)
		if err != nil {
			return n, err
		}
		if m == nil {
			return n, nil
		}
		n++
		if err := o.deliver(ctx, m); err != nil {
			return n, err
		}
	}
	return n, nil
}

// claim takes the next due message for this worker: in one short
// transaction it reads the oldest due pending message (PostgreSQL: FOR
// UPDATE SKIP LOCKED, so concurrent workers take different rows; SQLite:
// the transaction holds the database's write lock from BEGIN IMMEDIATE),
// counts the attempt and pushes its next_attempt_at one Lease ahead, so
// that no other worker takes it while this one delivers. It returns nil
// when nothing is due.
func (o *Outbox) claim(ctx context.Context) (*ent.MailMessage, error) {
	tx, err := o.db.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	now := o.set.Now().UTC()
	q := tx.MailMessage.Query().
		Where(mailmessage.StateEQ(mailmessage.StatePending), mailmessage.NextAttemptAtLTE(now)).
		Order(mailmessage.ByNextAttemptAt(), mailmessage.ByID())
	if o.dialect == dialect.Postgres {
		q = q.ForUpdate(entsql.WithLockAction(entsql.SkipLocked))
	}
	m, err := q.First(ctx)
	if ent.IsNotFound(err) {
		return nil, tx.Rollback()
	}
	if err == nil {
		m, err = tx.MailMessage.UpdateOne(m).
			AddAttempts(1).
			SetNextAttemptAt(now.Add(o.set.Lease)).
			Save(ctx)
	}
	if err == nil {
		err = tx.Commit()
	} else {
		err = errors.Join(err, tx.Rollback())
	}
	if err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	return m, nil
}

// deliver sends a claimed message and records the outcome: sent; failed
// (a permanent error, or the last attempt), logged as an error; or
// pending again after a backoff, logged as a warning. Sent and failed
// messages lose their bodies. The send and the record survive ctx's end
// (a stopping worker finishes), bounded by SendTimeout.
func (o *Outbox) deliver(ctx context.Context, m *ent.MailMessage) error {
	ctx = context.WithoutCancel(ctx)
	sendCtx, cancel := context.WithTimeout(ctx, o.set.SendTimeout)
	err := o.sender.Send(sendCtx, Message{
		Kind: Kind(m.Kind), To: m.Recipient, Subject: m.Subject, Text: m.TextBody, HTML: m.HTMLBody,
		MessageID: m.MessageID, Date: m.CreatedAt,
	})
	cancel()
	now := o.set.Now().UTC()
	attrs := []any{"message", m.ID, "kind", m.Kind, "attempt", m.Attempts}
	upd := o.db.MailMessage.UpdateOneID(m.ID)
	switch {
	case err == nil:
		upd.SetState(mailmessage.StateSent).SetSentAt(now).SetTextBody("").SetHTMLBody("").ClearLastError()
		o.log.InfoContext(ctx, "mail sent", attrs...)
	case IsPermanent(err) || m.Attempts >= o.set.MaxAttempts:
		upd.SetState(mailmessage.StateFailed).SetTextBody("").SetHTMLBody("").SetLastError(truncate(err.Error()))
		o.log.ErrorContext(ctx, "mail failed for good; it will not be sent", append(attrs, "permanent", IsPermanent(err), "error", err)...)
	default:
		retry := o.backoff(m.Attempts)
		upd.SetNextAttemptAt(now.Add(retry)).SetLastError(truncate(err.Error()))
		o.log.WarnContext(ctx, "mail delivery failed; will retry", append(attrs, "retry_in", retry.String(), "error", err)...)
	}
	if err := upd.Exec(ctx); err != nil {
		return fmt.Errorf("record mail delivery: %w", err)
	}
	return nil
}

// backoff is the wait after the given failed attempt: Backoff doubled
// per earlier failure, capped at MaxBackoff, plus up to 10% jitter so
// that messages that failed together spread out.
func (o *Outbox) backoff(attempt int) time.Duration {
	d := o.set.Backoff
	for i := 1; i < attempt && d < o.set.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.set.MaxBackoff)
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

// truncate bounds an error's text to what the last_error column holds.
func truncate(s string) string {
	if len(s) <= schema.MaxMailErrorBytes {
		return s
	}
	s = s[:schema.MaxMailErrorBytes-3]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// DeleteOld deletes sent and failed messages created more than Retention
// ago, and returns how many.
func (o *Outbox) DeleteOld(ctx context.Context) (int, error) {
	return o.db.MailMessage.Delete().
		Where(mailmessage.StateIn(mailmessage.StateSent, mailmessage.StateFailed),
			mailmessage.CreatedAtLT(o.set.Now().UTC().Add(-o.set.Retention))).
		Exec(ctx)
}
