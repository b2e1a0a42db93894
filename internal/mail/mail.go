// Package mail sends gqlauth's email: one-time links and codes, and
// notices about the account.
//
// A flow never talks to SMTP. It renders a message from the templates and
// writes it to the outbox (the mail_messages table) in the same
// transaction as the token the message carries (Mailer.Queue), so that
// either both exist or neither does. A worker (Outbox.Run) delivers what
// is due, one message at a time, with retries and exponential backoff;
// a restart loses nothing, and several instances never send one message
// twice while the database stands (PostgreSQL rows are claimed with FOR
// UPDATE SKIP LOCKED, SQLite has one writer).
//
// Delivery goes to the SMTP server of MAIL_URL (SMTPSender), or, in
// development without MAIL_URL, to the log (LogSender).
//
// Message bodies carry one-time secrets: they are never logged (the
// development LogSender excepted), never reach GraphQL, and are erased
// from the outbox once the message is sent or has failed for good.
package mail

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind names the templates a message is written from.
type Kind string

// The kinds of mail gqlauth sends.
const (
	// KindVerifyEmail asks the owner of a new address to confirm it.
	KindVerifyEmail Kind = "verify_email"
	// KindPasswordReset carries the link and code that reset a password.
	KindPasswordReset Kind = "password_reset"
	// KindPasswordChanged tells the account's address that its password
	// was changed (or reset).
	KindPasswordChanged Kind = "password_changed"
	// KindEmailChange asks the owner of a new address to confirm that it
	// replaces the account's current one.
	KindEmailChange Kind = "email_change"
	// KindEmailChangeNotice tells the current address that a change to
	// another one was requested.
	KindEmailChangeNotice Kind = "email_change_notice"
	// KindAccountExists goes to an address someone asked to use for an
	// account when it already has one (instead of KindEmailChange or
	// KindVerifyEmail, without revealing that to the asker).
	KindAccountExists Kind = "account_exists"
	// KindPasswordResetUnknown goes to an address without an account when
	// someone asked for a reset for it (PASSWORD_RESET_NOTIFY_UNKNOWN).
	KindPasswordResetUnknown Kind = "password_reset_unknown"
	// KindFactorRemoved tells the account's address that a verified
	// second factor was removed.
	KindFactorRemoved Kind = "factor_removed"
	// KindRecoveryCodeUsed tells the account's address that a recovery
	// code was spent.
	KindRecoveryCodeUsed Kind = "recovery_code_used"
	// KindFactorsReset tells the account's address that an admin removed
	// its second factors (resetFactors).
	KindFactorsReset Kind = "factors_reset"
)

// Kinds are every Kind, in the order of the documentation.
var Kinds = []Kind{
	KindVerifyEmail, KindPasswordReset, KindPasswordChanged, KindEmailChange,
	KindEmailChangeNotice, KindAccountExists, KindPasswordResetUnknown,
	KindFactorRemoved, KindRecoveryCodeUsed, KindFactorsReset,
}

// Message is one rendered email.
type Message struct {
	// Kind is the template it was written from.
	Kind Kind
	// To is the recipient's address.
	To string
	// Subject is the Subject header.
	Subject string
	// Text is the text/plain part.
	Text string
	// HTML is the text/html part; may be empty.
	HTML string
	// MessageID is the Message-ID header without angle brackets; the
	// outbox fixes it at enqueue, so that every attempt sends the same.
	MessageID string
	// Date is the Date header: when the message was enqueued.
	Date time.Time
}

// Sender delivers one message. A Sender used by an Outbox is called by
// one worker goroutine at a time.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// PermanentError is a delivery failure that trying again cannot fix (the
// server refused the recipient with a 5xx reply): the outbox marks the
// message failed at once.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is (or wraps) a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// errNotConfigured is the delivery error of a Mailer without MAIL_URL in
// production (the configuration refuses to start so, with the email
// flows on).
var errNotConfigured = &PermanentError{Err: fmt.Errorf("MAIL_URL is not set")}
