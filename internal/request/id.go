package request

import (
	"context"
	"crypto/rand"
	"log/slog"
	"regexp"
)

// IDHeader carries a request's id in and out: a client or proxy may set
// it, and every response echoes the id the request was logged under.
const IDHeader = "X-Request-ID"

type idKey struct{}

// saneID matches the incoming request ids gqlauth keeps: short, and made
// of characters that cannot forge log lines or headers.
var saneID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// IDFrom returns the id to handle a request under: the client's
// X-Request-ID when it is sane, else a new random one.
func IDFrom(header string) string {
	if saneID.MatchString(header) {
		return header
	}
	return NewID()
}

// NewID returns a new random request id (26 base32 characters).
func NewID() string { return rand.Text() }

// WithID returns ctx carrying the request id; log lines written with ctx
// then carry it too (see LogHandler).
func WithID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, idKey{}, id)
}

// ID returns the request id of ctx, or "" outside a request.
func ID(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}

// LogHandler wraps h so that every record logged with a request's context
// (log.InfoContext(ctx, …)) carries its request_id, and a service's log
// line can be matched with the request's access line.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(idHandler); ok {
		return h
	}
	return idHandler{h}
}

type idHandler struct{ slog.Handler }

func (h idHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := ID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h idHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return idHandler{h.Handler.WithAttrs(attrs)}
}

func (h idHandler) WithGroup(name string) slog.Handler {
	return idHandler{h.Handler.WithGroup(name)}
}
