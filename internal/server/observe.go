package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/gqlauth/gqlauth/internal/metrics"
	"github.com/gqlauth/gqlauth/internal/request"
)

// outcome is what the GraphQL layer learned of a request, filled in by
// operationObserver for the access log and the metrics.
type outcome struct {
	graphql   bool
	operation string
	code      string
	// validated: the operation passed parsing, validation, variable
	// coercion and every document limit, and was executed.
	validated bool
}

type outcomeKey struct{}

// observe gives each request an id (X-Request-ID when sane, echoed in
// the response), then writes one access line when it ends: id, method,
// path, status, duration, and for GraphQL the operation name and outcome
// code. It never logs the query string, headers or body, where tokens,
// passwords and cookies travel. GraphQL requests are also counted in m
// (when not nil). Probes and scrapes are logged at debug level only.
func observe(log *slog.Logger, m *metrics.Metrics, ips clientIPs, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := request.IDFrom(r.Header.Get(request.IDHeader))
		w.Header().Set(request.IDHeader, id)
		out := &outcome{}
		ctx := context.WithValue(request.WithID(r.Context(), id), outcomeKey{}, out)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		took := time.Since(start)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}

		level := slog.LevelInfo
		switch r.URL.Path {
		case "/healthz", "/readyz", "/metrics":
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			slog.Int64("bytes", sw.bytes),
			slog.String("ip", ips.of(r)),
		}
		if !out.graphql && r.URL.Path == "/graphql" && (r.Method == http.MethodGet || r.Method == http.MethodPost) {
			// Refused by the transport before any operation was read.
			out.graphql, out.code = true, "BAD_REQUEST"
		}
		if out.graphql {
			attrs = append(attrs, slog.String("operation", out.operation), slog.String("code", out.code))
			if m != nil {
				m.GraphQLRequest(out.operation, out.validated, out.code, took)
			}
		}
		// ctx carries the id, which the log handler adds (request.LogHandler).
		log.LogAttrs(ctx, level, "request", attrs...)
	})
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// operationObserver is a gqlgen extension that tells observe which
// operation a request ran and how it ended: "OK", or the extensions.code
// of the first error.
type operationObserver struct{}

var (
	_ graphql.HandlerExtension     = operationObserver{}
	_ graphql.OperationInterceptor = operationObserver{}
	_ graphql.ResponseInterceptor  = operationObserver{}
)

// ExtensionName implements graphql.HandlerExtension.
func (operationObserver) ExtensionName() string { return "OperationObserver" }

// Validate implements graphql.HandlerExtension.
func (operationObserver) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation implements graphql.OperationInterceptor. gqlgen
// calls it only for an operation it is about to execute: one that parsed,
// validated, had its variables coerced and passed every document limit.
// A document refused before that never gets here, so its name, which the
// client chose, cannot take one of the metrics' operation label slots.
func (operationObserver) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if out, ok := ctx.Value(outcomeKey{}).(*outcome); ok {
		out.validated = true
	}
	return next(ctx)
}

// InterceptResponse implements graphql.ResponseInterceptor.
func (operationObserver) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	out, ok := ctx.Value(outcomeKey{}).(*outcome)
	if !ok {
		return resp
	}
	out.graphql = true
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		out.operation = oc.OperationName
		switch {
		case out.operation != "":
		case oc.Operation != nil:
			out.operation = oc.Operation.Name
		case oc.RawQuery != "":
			// The document failed validation, so gqlgen kept no parsed
			// copy; parse it (syntax only) to name it all the same.
			if doc, err := parser.ParseQuery(&ast.Source{Input: oc.RawQuery}); err == nil {
				if op := doc.Operations.ForName(""); op != nil {
					out.operation = op.Name
				}
			}
		}
	}
	out.code = "OK"
	if resp != nil && len(resp.Errors) > 0 {
		out.code = "UNKNOWN"
		if c, ok := resp.Errors[0].Extensions["code"].(string); ok && c != "" {
			out.code = c
		}
	}
	return resp
}
