package mail

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent"
)

// Settings configure the mail system; internal/app fills them from
// internal/config.
type Settings struct {
	// URL is MAIL_URL; empty means the LogSender outside production, and
	// no delivery at all in production.
	URL string
	// From is MAIL_FROM: the From header, whose display name is the
	// Product of the templates.
	From string
	// AppURL is APP_URL, the app's public origin.
	AppURL string
	// Timeout is MAIL_TIMEOUT.
	Timeout time.Duration
	// TemplatesDir is MAIL_TEMPLATES_DIR.
	TemplatesDir string
	// MaxAttempts and RetryBackoff are MAIL_MAX_ATTEMPTS and
	// MAIL_RETRY_BACKOFF.
	MaxAttempts  int
	RetryBackoff time.Duration
	// Production is APP_ENV=production: a missing URL then never falls
	// back to the log, which would hold the bodies.
	Production bool
	// Outbox overrides the worker's other settings (tests).
	Outbox OutboxSettings
	// TLSConfig replaces the default TLS configuration (tests).
	TLSConfig *tls.Config
}

// Mailer is what the flows use: it renders a kind's templates and puts
// the message in the outbox, in the caller's transaction; its Outbox
// delivers.
type Mailer struct {
	// Outbox holds and delivers the messages; main runs Outbox.Run.
	Outbox    *Outbox
	templates *Templates
	product   string
	appURL    string
}

// New parses the templates (failing on a broken override) and MAIL_URL,
// and returns the Mailer of db (dialect.Postgres or dialect.SQLite). The
// log line it writes at start names the server without its password.
func New(set Settings, db *ent.Client, dia string, log *slog.Logger) (*Mailer, error) {
	templates, err := LoadTemplates(set.TemplatesDir)
	if err != nil {
		return nil, err
	}
	from, err := netmail.ParseAddress(set.From)
	if err != nil {
		return nil, fmt.Errorf("MAIL_FROM: %v", err)
	}
	product := from.Name
	if product == "" {
		product = "gqlauth"
	}
	var sender Sender
	switch {
	case set.URL != "":
		srv, err := ParseURL(set.URL)
		if err != nil {
			return nil, err
		}
		sender, err = NewSMTPSender(SMTPSettings{Server: srv, From: set.From, Timeout: set.Timeout, TLSConfig: set.TLSConfig})
		if err != nil {
			return nil, err
		}
		log.Info("mail goes through SMTP", "server", srv.String())
	case set.Production:
		sender = refusingSender{}
		log.Warn("MAIL_URL is not set: no mail will be sent")
	default:
		sender = LogSender{Log: log}
		log.Warn("MAIL_URL is not set: mails are written to the log instead of sent (development only)")
	}
	ob := set.Outbox
	if ob.MaxAttempts == 0 {
		ob.MaxAttempts = set.MaxAttempts
	}
	if ob.Backoff == 0 {
		ob.Backoff = set.RetryBackoff
	}
	if ob.SendTimeout == 0 {
		ob.SendTimeout = set.Timeout
	}
	if ob.MessageIDDomain == "" {
		ob.MessageIDDomain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	}
	outbox, err := NewOutbox(db, dia, sender, ob, log)
	if err != nil {
		return nil, err
	}
	return &Mailer{Outbox: outbox, templates: templates, product: product, appURL: strings.TrimRight(set.AppURL, "/")}, nil
}

// Queue renders kind for the address to with d and enqueues it within
// tx (see Outbox.Enqueue). It fills d's Product, AppURL, To and Now.
func (m *Mailer) Queue(ctx context.Context, tx *ent.Tx, kind Kind, to string, d Data) (uuid.UUID, error) {
	d.Product, d.AppURL, d.To = m.product, m.appURL, to
	if d.Now.IsZero() {
		d.Now = m.Outbox.set.Now()
	}
	r, err := m.templates.Render(kind, d)
	if err != nil {
		return uuid.Nil, err
	}
	return m.Outbox.Enqueue(ctx, tx, Message{Kind: kind, To: to, Subject: r.Subject, Text: r.Text, HTML: r.HTML})
}

// Product is the name the mails speak for.
func (m *Mailer) Product() string { return m.product }

// AppURL is the app's public origin, without a trailing slash: the flows
// build their links on it.
func (m *Mailer) AppURL() string { return m.appURL }
