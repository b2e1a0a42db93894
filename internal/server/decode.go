package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// The extensions.code of requests refused before GraphQL sees them,
// listed in README.md, "Security".
const (
	CodeRequestTooLarge        = "REQUEST_TOO_LARGE"
	CodeUnsupportedMediaType   = "UNSUPPORTED_MEDIA_TYPE"
	CodeBadRequest             = "BAD_REQUEST"
	CodeBatchingNotSupported   = "BATCHING_NOT_SUPPORTED"
	CodeMethodNotAllowed       = "METHOD_NOT_ALLOWED"
	jsonContentType            = "application/json"
	graphQLResponseContentType = "application/json; charset=utf-8"
)

// requestError is a refusal of an HTTP request to /graphql, answered as
// a GraphQL error body with its own status.
type requestError struct {
	Status  int
	Code    string
	Message string
}

func (e *requestError) Error() string { return e.Code + ": " + e.Message }

// graphQLRequest is a decoded POST body: one operation.
type graphQLRequest struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
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
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var req graphQLRequest
	if err := dec.Decode(&req); err != nil {
		return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the request body is not valid JSON: " + describeJSONError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &requestError{http.StatusBadRequest, CodeBadRequest, "the request body must hold exactly one JSON object"}
	}
	return &req, nil
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

// checkGraphQLRequest guards /graphql: only GET and POST; POST only with
// Content-Type application/json (form and multipart bodies are what a
// foreign page can send with the user's cookies) and a body
// decodeGraphQLRequest accepts; GET parameters must be valid UTF-8. The
// body is read once here (bounded by limitBody) and handed on.
func checkGraphQLRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			if rerr := checkQueryString(r.URL.RawQuery); rerr != nil {
				writeRequestError(w, rerr)
				return
			}
		case http.MethodPost:
			if rerr := checkContentType(r.Header.Get("Content-Type")); rerr != nil {
				writeRequestError(w, rerr)
				return
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					writeRequestError(w, errTooLarge(tooLarge.Limit))
					return
				}
				writeRequestError(w, &requestError{http.StatusBadRequest, CodeBadRequest, "the request body could not be read"})
				return
			}
			if _, rerr := decodeGraphQLRequest(body); rerr != nil {
				writeRequestError(w, rerr)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		default:
			w.Header().Set("Allow", "GET, POST")
			writeRequestError(w, &requestError{http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use GET for queries or POST for any operation"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkContentType accepts application/json, with charset utf-8 if any.
func checkContentType(ct string) *requestError {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != jsonContentType {
		return &requestError{http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
			"send the operation as a JSON body with Content-Type: application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &requestError{http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "the body must be UTF-8"}
	}
	return nil
}

// checkQueryString refuses GET parameters that do not parse or are not UTF-8.
func checkQueryString(raw string) *requestError {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return &requestError{http.StatusBadRequest, CodeBadRequest, "the query string is malformed"}
	}
	for k, vs := range vals {
		if !utf8.ValidString(k) {
			return &requestError{http.StatusBadRequest, CodeBadRequest, "the query string is not valid UTF-8"}
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return &requestError{http.StatusBadRequest, CodeBadRequest, "the query string is not valid UTF-8"}
			}
		}
	}
	return nil
}

func errTooLarge(limit int64) *requestError {
	return &requestError{http.StatusRequestEntityTooLarge, CodeRequestTooLarge,
		fmt.Sprintf("the request body is larger than the limit of %d bytes", limit)}
}

// writeRequestError answers with a GraphQL error body.
func writeRequestError(w http.ResponseWriter, e *requestError) {
	body, _ := json.Marshal(map[string]any{"errors": []any{map[string]any{
		"message":    e.Message,
		"extensions": map[string]any{"code": e.Code},
	}}})
	w.Header().Set("Content-Type", graphQLResponseContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}
