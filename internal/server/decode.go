package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The extensions.code of requests refused before GraphQL sees them,
// listed in docs/security.md.
const (
	CodeRequestTooLarge      = "REQUEST_TOO_LARGE"
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	CodeBadRequest           = "BAD_REQUEST"
	CodeBatchingNotSupported = "BATCHING_NOT_SUPPORTED"
	CodeMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	CodeNotAcceptable        = "NOT_ACCEPTABLE"
)

// requestError is a refusal of an HTTP request to /graphql, answered as
// a GraphQL error body with its own status.
type requestError struct {
	Status  int
	Code    string
	Message string
}

func (e *requestError) Error() string { return e.Code + ": " + e.Message }

// graphQLRequest is a decoded GraphQL-over-HTTP request (a POST body or
// GET parameters): one operation.
type graphQLRequest struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
	// DocumentID names a trusted document to run instead of sending its
	// text (the GraphQL-over-HTTP persisted documents draft), e.g.
	// "sha256:<hex>".
	DocumentID string `json:"documentId"`
}

// persistedQueryHash is the Apollo form of a document id:
// extensions.persistedQuery.sha256Hash. ok is false when persistedQuery
// is there but not of that shape.
func (r *graphQLRequest) persistedQueryHash() (hash string, ok bool) {
	pq, found := r.Extensions["persistedQuery"]
	if !found || pq == nil {
		return "", true
	}
	m, isMap := pq.(map[string]any)
	if !isMap {
		return "", false
	}
	hash, ok = m["sha256Hash"].(string)
	return hash, ok
}

// check refuses a request that is not a well-formed GraphQL-over-HTTP
// request once decoded: it must carry a document, as text or as an id.
func (r *graphQLRequest) check() *requestError {
	hash, ok := r.persistedQueryHash()
	if !ok {
		return &requestError{http.StatusBadRequest, CodeBadRequest, "extensions.persistedQuery must be an object with a string sha256Hash"}
	}
	if r.Query == "" && r.DocumentID == "" && hash == "" {
		return &requestError{http.StatusBadRequest, CodeBadRequest, "the request has no query; send the GraphQL document as query (or a trusted document's documentId)"}
	}
	return nil
}

// decodeGraphQLRequest checks and decodes a POST body: valid UTF-8, one
// JSON object (a JSON array is a batch, which gqlauth does not run: a
// batch of sign-ins would be a brute-force amplifier), fields of the
// right types, nothing after the object. The error never echoes the body.
func decodeGraphQLRequest(body []byte) (*graphQLRequest, *requestError) {
	if !utf8.Valid(body) {
		return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the request body is not valid UTF-8"}
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the request body is empty; send a JSON object with a query"}
	case trimmed[0] == '[':
		return nil, &requestError{http.StatusBadRequest, CodeBatchingNotSupported,
			"batched requests (a JSON array of operations) are not supported; send one operation per request"}
	case trimmed[0] != '{':
		return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the request body must be a JSON object"}
	}
	req, ok := decodeValid(body)
	if !ok {
		// Decode again, slowly, to say what is wrong.
		req = new(graphQLRequest)
		if rerr := decodeStrictly(body, req); rerr != nil {
			return nil, rerr
		}
	}
	if rerr := req.check(); rerr != nil {
		return nil, rerr
	}
	return req, nil
}

// decodeValid decodes a body that is one well-formed request, the common
// case, without copying it into a json.Decoder's buffer: json.Unmarshal
// reads the body in place, and only variables and extensions, when sent,
// go through a decoder (numbers stay json.Number, as gqlgen expects). ok
// is false for any body it cannot decode; decodeStrictly says why.
func decodeValid(body []byte) (*graphQLRequest, bool) {
	var raw struct {
		Query         string          `json:"query"`
		OperationName string          `json:"operationName"`
		Variables     json.RawMessage `json:"variables"`
		Extensions    json.RawMessage `json:"extensions"`
		DocumentID    string          `json:"documentId"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return nil, false
	}
	req := &graphQLRequest{Query: raw.Query, OperationName: raw.OperationName, DocumentID: raw.DocumentID}
	if !decodeObject(raw.Variables, &req.Variables) || !decodeObject(raw.Extensions, &req.Extensions) {
		return nil, false
	}
	return req, true
}

// decodeObject decodes a JSON object (or null, or nothing) into m.
// Absent, null and {} are what most clients send as variables and
// extensions (the bench's `me` sends null, Apollo Client {}): they need no
// decoder, whose buffer was the largest allocation of a request.
func decodeObject(raw json.RawMessage, m *map[string]any) bool {
	switch string(raw) {
	case "", "null":
		return true
	case "{}":
		*m = map[string]any{}
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(m) == nil
}

// decodeStrictly decodes body into req through a json.Decoder, whose
// errors name the field and the type, and refuses anything after the
// object.
func decodeStrictly(body []byte, req *graphQLRequest) *requestError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(req); err != nil {
		return &requestError{http.StatusBadRequest, CodeBadRequest, "the request body is not valid JSON: " + describeJSONError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &requestError{http.StatusBadRequest, CodeBadRequest, "the request body must hold exactly one JSON object"}
	}
	return nil
}

// describeJSONError says what is wrong without quoting the input.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return fmt.Sprintf("%s must be %s, not %s", typeErr.Field, expected(typeErr.Field), typeErr.Value)
		}
		return "expected an object, not " + typeErr.Value
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("syntax error at byte %d", syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return "malformed"
}

func expected(field string) string {
	switch field {
	case "variables", "extensions":
		return "an object"
	}
	return "a string"
}

// decoded is what checkGraphQLRequest hands the transport: the request,
// the response media type negotiated from Accept, and whether it came by
// GET, which runs queries only (queriesOnlyOverGET).
type decoded struct {
	req   *graphQLRequest
	media string
	get   bool
}

type decodedKey struct{}

// decodedFrom returns what checkGraphQLRequest decoded, or nil.
func decodedFrom(ctx context.Context) *decoded {
	d, _ := ctx.Value(decodedKey{}).(*decoded)
	return d
}

// checkGraphQLRequest guards /graphql: only GET and POST; a response
// media type the client accepts (406 otherwise); POST only with
// Content-Type application/json (form and multipart bodies are what a
// foreign page can send with the user's cookies) and a body
// decodeGraphQLRequest accepts; GET parameters must be valid UTF-8 and
// of the right types. The body is read once here (bounded by limitBody)
// and the decoded request handed on in the context.
func checkGraphQLRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			writeRequestError(w, mediaJSON, &requestError{http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use GET for queries or POST for any operation"})
			return
		}
		media, ok := negotiate(r.Header.Values("Accept"))
		if r.Method == http.MethodPost && acceptsEventStream(r.Header.Values("Accept")) {
			media, ok = mediaEventStream, true // a subscription (sse.go)
		}
		if !ok {
			writeRequestError(w, mediaJSON, &requestError{http.StatusNotAcceptable, CodeNotAcceptable,
				"gqlauth answers with application/graphql-response+json or application/json; accept one of them"})
			return
		}
		var req *graphQLRequest
		var rerr *requestError
		if r.Method == http.MethodGet {
			req, rerr = requestFromQuery(r.URL.RawQuery)
		} else {
			req, rerr = readPOST(r)
		}
		if rerr != nil {
			if media == mediaEventStream {
				media = mediaJSON
			}
			writeRequestError(w, media, rerr)
			return
		}
		ctx := context.WithValue(r.Context(), decodedKey{}, &decoded{req: req, media: media, get: r.Method == http.MethodGet})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// readPOST checks the content type of a POST and decodes its body. The
// body stays readable for the handler.
func readPOST(r *http.Request) (*graphQLRequest, *requestError) {
	if rerr := checkContentType(r.Header.Get("Content-Type")); rerr != nil {
		return nil, rerr
	}
	body, err := readBody(r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errTooLarge(tooLarge.Limit)
		}
		return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the request body could not be read"}
	}
	req, rerr := decodeGraphQLRequest(body)
	if rerr != nil {
		return nil, rerr
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return req, nil
}

// readBody reads the body of r, in one allocation of its size when
// Content-Length gives it (limitBody has refused one over the limit).
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(r.Body)
}

// checkContentType accepts application/json, with charset utf-8 if any.
func checkContentType(ct string) *requestError {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != mediaJSON {
		return &requestError{http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
			"send the operation as a JSON body with Content-Type: application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &requestError{http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "the body must be UTF-8"}
	}
	return nil
}

// requestFromQuery decodes the parameters of a GET: query,
// operationName and documentId as strings, variables and extensions as
// JSON objects (GraphQL over HTTP, "GET"). Parameters that do not parse,
// are not UTF-8 or are of the wrong type are refused.
func requestFromQuery(raw string) (*graphQLRequest, *requestError) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the query string is malformed"}
	}
	for k, vs := range vals {
		if !utf8.ValidString(k) {
			return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the query string is not valid UTF-8"}
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the query string is not valid UTF-8"}
			}
		}
	}
	req := &graphQLRequest{
		Query:         vals.Get("query"),
		OperationName: vals.Get("operationName"),
		DocumentID:    vals.Get("documentId"),
	}
	for name, dst := range map[string]*map[string]any{"variables": &req.Variables, "extensions": &req.Extensions} {
		v := vals.Get(name)
		if v == "" {
			continue // the empty string is the same as leaving it out
		}
		dec := json.NewDecoder(strings.NewReader(v))
		dec.UseNumber()
		if err := dec.Decode(dst); err != nil {
			return nil, &requestError{http.StatusBadRequest, CodeBadRequest, name + " must be a JSON object: " + describeJSONError(err)}
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, &requestError{http.StatusBadRequest, CodeBadRequest, name + " must be one JSON object"}
		}
	}
	if rerr := req.check(); rerr != nil {
		return nil, rerr
	}
	return req, nil
}

func errTooLarge(limit int64) *requestError {
	return &requestError{http.StatusRequestEntityTooLarge, CodeRequestTooLarge,
		fmt.Sprintf("the request body is larger than the limit of %d bytes", limit)}
}

// writeRequestError answers with a GraphQL error body (no data entry: the
// request never reached execution) in the given media type.
func writeRequestError(w http.ResponseWriter, media string, e *requestError) {
	writeErrors(w, media, e.Status, gqlerror.List{{
		Message:    e.Message,
		Extensions: map[string]any{"code": e.Code},
	}}, nil)
}
