// Package apierr defines the errors gqlauth shows its clients. A service
// returns an *Error when the client should learn what went wrong; the
// GraphQL error presenter (graph/errors.go) turns it into a GraphQL error
// with extensions.code. Any other error is internal: it is logged and the
// client sees only "internal error".
package apierr

import (
	"errors"
	"time"
)

// Code is the machine-readable class of an error, sent as extensions.code.
type Code string

// The codes a client can receive (besides gqlgen's own
// GRAPHQL_PARSE_FAILED and GRAPHQL_VALIDATION_FAILED).
const (
	BadUserInput    Code = "BAD_USER_INPUT"
	Unauthenticated Code = "UNAUTHENTICATED"
	Forbidden       Code = "FORBIDDEN"
	// EmailNotVerified is a FORBIDDEN of its own: the password was right,
	// but EMAIL_VERIFICATION=required and the address is not verified.
	EmailNotVerified   Code = "EMAIL_NOT_VERIFIED"
	NotFound           Code = "NOT_FOUND"
	Conflict           Code = "CONFLICT"
	TooManyRequests    Code = "TOO_MANY_REQUESTS"
	ServiceUnavailable Code = "SERVICE_UNAVAILABLE"
	Internal           Code = "INTERNAL_SERVER_ERROR"

	// MFARequired refuses an AAL1 session of a user with a second factor
	// until it steps up (verifyMfa); a kind of FORBIDDEN.
	MFARequired Code = "MFA_REQUIRED"
	// MFAEnrollmentRequired refuses a user who must enroll a second
	// factor (MFA_REQUIRED=admins|all) until they do; a kind of FORBIDDEN.
	MFAEnrollmentRequired Code = "MFA_ENROLLMENT_REQUIRED"
	// ReauthenticationRequired refuses a sensitive change when the
	// session's auth_time is older than REAUTH_MAX_AGE (reauthenticate
	// renews it); a kind of FORBIDDEN.
	ReauthenticationRequired Code = "REAUTHENTICATION_REQUIRED"
)

// Error is an error whose code and message are safe to show a client.
type Error struct {
	Code Code
	// Message is shown to the client as is.
	Message string
	// Fields maps input field names to what is wrong with each (BAD_USER_INPUT).
	Fields map[string]string
	// RetryAfter tells a throttled client when to try again (TOO_MANY_REQUESTS).
	RetryAfter time.Duration
	// Err is the cause, for logs only; it never reaches the client.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with the given code and public message.
func New(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// Invalid reports invalid input, naming every bad field at once.
func Invalid(fields map[string]string) *Error {
	return &Error{Code: BadUserInput, Message: "invalid input", Fields: fields}
}

// Wrap returns an error with the given code and public message that keeps
// cause for the logs.
func Wrap(code Code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// CodeOf returns the code of err, or Internal when err is not an *Error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Common errors that several services return.
var (
	// ErrUnauthenticated is the one answer to every failed credential check,
	// so that a client cannot tell which part was wrong.
	ErrUnauthenticated = New(Unauthenticated, "invalid credentials")
	// ErrNoViewer is returned when an operation needs a signed-in user.
	ErrNoViewer = New(Unauthenticated, "authentication required")
	// ErrForbidden is returned when the signed-in user may not do this.
	ErrForbidden = New(Forbidden, "not allowed")
)

// IsUnauthenticated reports whether err says the caller is not signed in.
func IsUnauthenticated(err error) bool { return CodeOf(err) == Unauthenticated }
