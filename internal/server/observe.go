package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gqlauth/gqlauth/graph"
	"github.com/gqlauth/gqlauth/internal/metrics"
	"github.com/gqlauth/gqlauth/internal/request"
)

// outcomeKey holds the request's *graph.OperationReport, which the
// GraphQL handler fills in for observe.
type outcomeKey struct{}

// reportOf returns the report observe put in ctx, or nil
// (graph.HandlerOptions.Report).
func reportOf(ctx context.Context) *graph.OperationReport {
	out, _ := ctx.Value(outcomeKey{}).(*graph.OperationReport)
	return out
}

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
		out := &graph.OperationReport{}
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
		if !out.Answered && r.URL.Path == "/graphql" && (r.Method == http.MethodGet || r.Method == http.MethodPost) {
			// Refused by the transport before any operation was read.
			out.Answered, out.Code = true, "BAD_REQUEST"
		}
		if out.Answered && m != nil {
			m.GraphQLRequest(out.Name, out.Executed, out.Code, took)
		}
		if !log.Enabled(ctx, level) {
			// LOG_LEVEL=warn and above: no access line, and nothing
			// built for one.
			return
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			slog.Int64("bytes", sw.bytes),
			slog.String("ip", ips.of(r)),
		}
		if out.Answered {
			attrs = append(attrs, slog.String("operation", out.Name), slog.String("code", out.Code))
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
