package mail

import (
	"context"
	"log/slog"
)

// DevelopmentBanner starts every log line of the LogSender, so that
// nobody mistakes it for delivery.
const DevelopmentBanner = "DEVELOPMENT ONLY: MAIL_URL is not set, so this mail was written to the log instead of sent; " +
	"it holds one-time secrets. Never run like this in production: set MAIL_URL."

// LogSender writes each message, body included, to the log at level
// INFO under DevelopmentBanner instead of sending it. It is the one place
// gqlauth logs a mail's body, and it is used only in development and
// tests without MAIL_URL (New never picks it in production), so that the
// flows can be tried without an SMTP server.
type LogSender struct{ Log *slog.Logger }

// Send logs m.
func (s LogSender) Send(ctx context.Context, m Message) error {
	s.Log.InfoContext(ctx, DevelopmentBanner,
		"kind", string(m.Kind), "to", m.To, "subject", m.Subject, "message_id", m.MessageID, "text", m.Text)
	return nil
}

// refusingSender fails every message for good: the sender of a
// production Mailer without MAIL_URL, which must never log a body.
type refusingSender struct{}

func (refusingSender) Send(context.Context, Message) error { return errNotConfigured }
