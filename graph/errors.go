package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/gqlauth/gqlauth/internal/apierr"
)

// internalMessage is all a client learns of an unexpected error.
const internalMessage = "internal error"

// ErrorPresenter is the one place that decides what a client sees of an
// error. An *apierr.Error becomes its message with extensions.code (and
// extensions.fields / retryAfter when set); gqlgen's own parse and
// validation errors keep their codes; anything else is logged and shown
// as INTERNAL_SERVER_ERROR "internal error", so no SQL text or Go error
// string reaches a client.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var ae *apierr.Error
		if errors.As(err, &ae) {
			gerr := &gqlerror.Error{Message: ae.Message, Path: graphql.GetPath(ctx)}
			var ge *gqlerror.Error
			if errors.As(err, &ge) && ge.Path != nil {
				gerr.Path = ge.Path
			}
			gerr.Extensions = map[string]any{"code": string(ae.Code)}
			if len(ae.Fields) > 0 {
				gerr.Extensions["fields"] = ae.Fields
			}
			if ae.RetryAfter > 0 {
				gerr.Extensions["retryAfter"] = int(ae.RetryAfter.Seconds() + 0.999)
			}
			if ae.Code == apierr.Internal || ae.Code == apierr.ServiceUnavailable {
				log.ErrorContext(ctx, "request failed", "code", ae.Code, "error", ae.Err, "path", gerr.Path.String())
			}
			return gerr
		}
		var ge *gqlerror.Error
		if errors.As(err, &ge) && ge.Err == nil {
			// Produced by gqlgen itself (parse, validation, coercion of
			// input values): the message describes the request, not the server.
			if ge.Extensions == nil || ge.Extensions["code"] == nil {
				ge.Extensions = mergeCode(ge.Extensions, apierr.BadUserInput)
			}
			return ge
		}
		log.ErrorContext(ctx, "internal error", "error", err, "path", graphql.GetPath(ctx).String())
		return &gqlerror.Error{
			Message:    internalMessage,
			Path:       graphql.GetPath(ctx),
			Extensions: map[string]any{"code": string(apierr.Internal)},
		}
	}
}

func mergeCode(ext map[string]any, code apierr.Code) map[string]any {
	if ext == nil {
		ext = map[string]any{}
	}
	ext["code"] = string(code)
	return ext
}

// RecoverFunc turns a panic in a resolver into an internal error, logging
// the value and stack; the client sees only "internal error".
func RecoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return apierr.New(apierr.Internal, internalMessage)
	}
}
