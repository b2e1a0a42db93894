package server

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// mediaEventStream is the media type of a subscription's answer: Server-
// Sent Events, as the graphql-sse protocol's "distinct connections" mode
// uses them (one POST per subscription, answered with a stream of next
// events and a final complete event).
const mediaEventStream = "text/event-stream"

// CodeSubscriptionTransport refuses a subscription sent without
// Accept: text/event-stream, and a query or mutation sent with it.
const CodeSubscriptionTransport = "SUBSCRIPTION_TRANSPORT"

// ssePing is how often an idle stream gets a comment line, so that
// proxies do not close it.
const ssePing = 15 * time.Second

// acceptsEventStream reports whether the Accept headers name
// text/event-stream.
func acceptsEventStream(accept []string) bool {
	for _, header := range accept {
		for part := range strings.SplitSeq(header, ",") {
			if mt, params, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == mediaEventStream && params["q"] != "0" {
				return true
			}
		}
	}
	return false
}

// sseTransport runs subscriptions over Server-Sent Events (graphql-sse,
// distinct connections mode). It replaces gqlgen's transport.SSE, which
// reads the raw body again (so trusted documents would not apply), logs
// the body when it cannot decode it (bodies carry passwords), and needs
// the response writer itself to be an http.Flusher. The request has been
// checked like any other by checkGraphQLRequest: POST, a JSON body, CORS,
// and the bearer token in the Authorization header.
type sseTransport struct {
	documents *TrustedDocuments
}

var _ graphql.Transport = sseTransport{}

// Supports implements graphql.Transport: the requests checkGraphQLRequest
// let through with Accept: text/event-stream.
func (sseTransport) Supports(r *http.Request) bool {
	d := decodedFrom(r.Context())
	return d != nil && d.media == mediaEventStream
}

// Do implements graphql.Transport. Errors before execution (parse,
// validation, limits) are answered as JSON with 400; once the
// subscription runs, its events (and an error from its resolver) are
// next events, and the end of the stream is a complete event.
func (t sseTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	d := decodedFrom(ctx)
	start := graphql.Now()
	params := d.params(r)
	refuse := func(errs gqlerror.List, ext map[string]any) {
		writeErrors(w, mediaJSON, http.StatusBadRequest, errs, ext)
	}
	if gerr := t.documents.resolve(d.req, params); gerr != nil {
		resp := exec.DispatchError(ctx, gqlerror.List{gerr})
		refuse(resp.Errors, resp.Extensions)
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	rc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		refuse(resp.Errors, resp.Extensions)
		return
	}
	if rc.Operation.Operation != ast.Subscription {
		err := gqlerror.Errorf("Accept: text/event-stream is for subscriptions; send queries and mutations with Accept: application/json")
		err.Extensions = map[string]any{"code": CodeSubscriptionTransport}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), gqlerror.List{err})
		refuse(resp.Errors, resp.Extensions)
		return
	}

	// A stream outlives the server's read and write timeouts.
	ctl := http.NewResponseController(w)
	_ = ctl.SetReadDeadline(time.Time{})
	_ = ctl.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", mediaEventStream+"; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex
	send := func(write func(io.Writer)) {
		mu.Lock()
		defer mu.Unlock()
		write(w)
		_ = ctl.Flush()
	}
	send(func(w io.Writer) { fmt.Fprint(w, ":\n\n") })

	done := make(chan struct{})
	defer close(done)
	reqCtx := ctx
	go func() {
		tick := time.NewTicker(ssePing)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-reqCtx.Done():
				return
			case <-tick.C:
				send(func(w io.Writer) { fmt.Fprint(w, ": ping\n\n") })
			}
		}
	}()

	responses, opCtx := exec.DispatchOperation(ctx, rc)
	for {
		resp := responses(opCtx)
		if resp == nil {
			break
		}
		b, err := json.Marshal(resp)
		if err != nil {
			break
		}
		send(func(w io.Writer) { fmt.Fprintf(w, "event: next\ndata: %s\n\n", b) })
	}
	if opCtx.Err() == nil {
		send(func(w io.Writer) { fmt.Fprint(w, "event: complete\ndata:\n\n") })
	}
}
