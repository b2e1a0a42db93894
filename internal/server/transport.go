package server

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The response media types of GraphQL over HTTP. gqlauth follows the
// version of the spec that the graphql-http audits check (1.23; see
// docs/clients.md, "HTTP"): under application/json every well-formed request
// is answered 200, errors and all; under application/graphql-response+json
// a request that never reached execution (parse, validation, variable
// coercion, limits, trusted documents) is answered 400, with no data entry.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// negotiate picks the response media type from the Accept headers: the
// acceptable one with the highest quality; application/graphql-response+json
// when both are named with the same quality (the spec's preferred type);
// application/json when only a wildcard matches or there is no Accept
// header (legacy clients, curl). ok is false when Accept rules out both (406).
func negotiate(accept []string) (media string, ok bool) {
	if len(accept) == 0 {
		return mediaJSON, true
	}
	// q of each candidate, from the most specific range that names it.
	type match struct {
		q           float64
		specificity int // 0 none, 1 */*, 2 application/*, 3 exact
	}
	var legacy, gr match
	set := func(m *match, q float64, spec int) {
		if spec > m.specificity {
			*m = match{q: q, specificity: spec}
		}
	}
	for _, header := range accept {
		for part := range strings.SplitSeq(header, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, found := params["q"]; found {
				if v, err := strconv.ParseFloat(s, 64); err == nil && v >= 0 && v <= 1 {
					q = v
				}
			}
			switch mt {
			case "*/*":
				set(&legacy, q, 1)
				set(&gr, q, 1)
			case "application/*":
				set(&legacy, q, 2)
				set(&gr, q, 2)
			case mediaJSON:
				set(&legacy, q, 3)
			case mediaGraphQLResponse:
				set(&gr, q, 3)
			}
		}
	}
	switch {
	case gr.specificity == 3 && gr.q > 0 && gr.q >= legacy.q:
		return mediaGraphQLResponse, true
	case legacy.specificity > 0 && legacy.q > 0:
		return mediaJSON, true
	case gr.specificity > 0 && gr.q > 0:
		return mediaGraphQLResponse, true
	}
	return "", false
}

// CodeMutationOverGET refuses a mutation sent with GET (GraphQL over
// HTTP: GET must not change state), listed in docs/security.md.
const CodeMutationOverGET = "MUTATION_NOT_ALLOWED_OVER_GET"

// queriesOnlyOverGET is the transport's rule on operations
// (graph.HandlerOptions.AllowOperation): a request that came by GET runs
// queries only. The GraphQL handler applies it to the validated document
// before its own limits, and requestErrorStatus answers it with 405.
func queriesOnlyOverGET(ctx context.Context, kind ast.Operation) *gqlerror.Error {
	if d := decodedFrom(ctx); d == nil || !d.get || kind == ast.Query {
		return nil
	}
	err := gqlerror.Errorf("a %s must be sent with POST", kind)
	errcode.Set(err, CodeMutationOverGET)
	return err
}

// requestErrorStatus is the status of a response without data: a
// GraphQL request error of a well-formed request. A mutation over GET is
// 405 under either media type (the spec's MUST).
func requestErrorStatus(media string, errs gqlerror.List) int {
	for _, e := range errs {
		if e.Extensions["code"] == CodeMutationOverGET {
			return http.StatusMethodNotAllowed
		}
	}
	if media == mediaGraphQLResponse {
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// writeErrors writes a response without a data entry.
func writeErrors(w http.ResponseWriter, media string, status int, errs gqlerror.List, extensions map[string]any) {
	body, err := json.Marshal(struct {
		Errors     gqlerror.List  `json:"errors"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{errs, extensions})
	if err != nil {
		body = []byte(`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`)
		status = http.StatusInternalServerError
	}
	if status == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "" {
		w.Header().Set("Allow", http.MethodPost)
	}
	writeBody(w, media, status, body)
}

func writeBody(w http.ResponseWriter, media string, status int, body []byte) {
	if fixed, ok := graphQLBodyHeaders[media]; ok {
		fixed.setOn(w.Header())
	} else {
		w.Header().Set("Content-Type", media+"; charset=utf-8")
		noStoreHeader.setOn(w.Header())
	}
	if status != http.StatusOK {
		// A 200 goes without: WriteHeader would make net/http copy the
		// whole header map, and the first Write sends 200 anyway.
		w.WriteHeader(status)
	}
	_, _ = w.Write(body)
}

// graphQLTransport is gqlauth's one GraphQL-over-HTTP transport, for
// GET and POST alike. checkGraphQLRequest has already decoded the request
// and negotiated the media type; the transport resolves a trusted
// document, executes, and picks the status per media type (gqlgen's
// transports answer 422 for any request error and write "data": null
// where the spec wants no data entry).
type graphQLTransport struct {
	documents *TrustedDocuments
}

var _ graphql.Transport = graphQLTransport{}

// Supports implements graphql.Transport: every request that
// checkGraphQLRequest let through.
func (graphQLTransport) Supports(r *http.Request) bool {
	d := decodedFrom(r.Context())
	return d != nil && d.media != mediaEventStream
}

// Do implements graphql.Transport.
func (t graphQLTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	d := decodedFrom(ctx)
	start := graphql.Now()
	params := d.params(r)
	if gerr := t.documents.resolve(d.req, params); gerr != nil {
		resp := exec.DispatchError(ctx, gqlerror.List{gerr})
		writeErrors(w, d.media, requestErrorStatus(d.media, resp.Errors), resp.Errors, resp.Extensions)
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	rc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		writeErrors(w, d.media, requestErrorStatus(d.media, resp.Errors), resp.Errors, resp.Extensions)
		return
	}
	if rc.Operation != nil && rc.Operation.Operation == ast.Subscription {
		// One answer per request cannot carry a stream (sse.go can).
		gerr := gqlerror.Errorf("subscriptions run over Server-Sent Events: POST with Accept: text/event-stream")
		gerr.Extensions = map[string]any{"code": CodeSubscriptionTransport}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), gqlerror.List{gerr})
		writeErrors(w, d.media, requestErrorStatus(d.media, resp.Errors), resp.Errors, resp.Extensions)
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	resp := responses(ctx)
	if resp == nil {
		return // the client went away
	}
	if len(resp.Data) == 0 {
		// Refused before execution, e.g. an unsupported operation type.
		writeErrors(w, d.media, requestErrorStatus(d.media, resp.Errors), resp.Errors, resp.Extensions)
		return
	}
	body, err := responseBody(resp)
	if err != nil {
		writeErrors(w, d.media, http.StatusInternalServerError, gqlerror.List{{
			Message: "internal error", Extensions: map[string]any{"code": "INTERNAL_SERVER_ERROR"},
		}}, nil)
		return
	}
	writeBody(w, d.media, http.StatusOK, body)
}

// params are the raw GraphQL parameters of the decoded request r, as
// either transport hands them to gqlgen.
func (d *decoded) params(r *http.Request) *graphql.RawParams {
	return &graphql.RawParams{
		Query:         d.req.Query,
		OperationName: d.req.OperationName,
		Variables:     d.req.Variables,
		Extensions:    d.req.Extensions,
		Headers:       r.Header,
	}
}

// responseBody is resp as JSON. The common answer, data alone, is
// written around gqlgen's already encoded data rather than through
// json.Marshal, which would check and copy it once more.
func responseBody(resp *graphql.Response) ([]byte, error) {
	if len(resp.Errors) > 0 || resp.Extensions != nil || resp.Label != "" || resp.Path != nil || resp.HasNext != nil {
		return json.Marshal(resp)
	}
	body := make([]byte, 0, len(`{"data":}`)+len(resp.Data))
	body = append(body, `{"data":`...)
	body = append(body, resp.Data...)
	return append(body, '}'), nil
}
