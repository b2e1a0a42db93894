package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
)

// FuzzDecodeGraphQLRequest feeds arbitrary bodies to the POST decoder. It
// must not panic; a refusal is a 400 with a code and never quotes the
// body; an accepted body is one JSON object that gqlgen's transport
// decodes too, with a UTF-8 query.
func FuzzDecodeGraphQLRequest(f *testing.F) {
	for _, seed := range []string{
		`{"query":"{ me { id } }"}`,
		`{"query":"mutation($in: SignInInput!) { signIn(input: $in) { accessToken } }","variables":{"in":{"email":"a@b.c","password":"x"}},"operationName":null}`,
		`[{"query":"{ me { id } }"},{"query":"{ me { id } }"}]`,
		` 	[]`,
		`{"query": 5}`,
		`{"variables": []}`,
		`{"query":"{ __typename }"} {"query":"{ __typename }"}`,
		`{"query":"\ud800"}`,
		"{\"query\":\"\xff\"}",
		`{"query":"x","extensions":{"persistedQuery":{"version":1}}}`,
		`null`,
		`"query"`,
		`{`,
		``,
		`{"query":"{ a }","variables":{"x":[[[[[[[[[[1]]]]]]]]]]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, rerr := decodeGraphQLRequest(body)
		if rerr != nil {
			if rerr.Status != http.StatusBadRequest || rerr.Code == "" || rerr.Message == "" {
				t.Fatalf("refusal %+v", rerr)
			}
			if len(body) > 8 && strings.Contains(rerr.Message, string(body)) {
				t.Fatalf("refusal quotes the body: %q", rerr.Message)
			}
			return
		}
		if !utf8.Valid(body) || !utf8.ValidString(req.Query) {
			t.Fatalf("accepted non-UTF-8 %q", body)
		}
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); trimmed[0] != '{' {
			t.Fatalf("accepted something other than an object: %q", body)
		}
		var params graphql.RawParams
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&params); err != nil {
			t.Fatalf("accepted %q, which gqlgen cannot decode: %v", body, err)
		}
		if params.Query != req.Query || params.OperationName != req.OperationName {
			t.Fatalf("gqlgen reads %q/%q, we read %q/%q", params.Query, params.OperationName, req.Query, req.OperationName)
		}
	})
}

func TestCheckContentType(t *testing.T) {
	for ct, ok := range map[string]bool{
		"application/json":                  true,
		"application/json; charset=utf-8":   true,
		"Application/JSON; charset=UTF-8":   true,
		"application/json; charset=latin1":  false,
		"text/plain":                        false,
		"application/x-www-form-urlencoded": false,
		"multipart/form-data; boundary=abc": false,
		"application/graphql":               false,
		"application/graphql-response+json": false,
		"":                                  false,
		"application/json; charset=\"utf-8": false,
	} {
		if got := checkContentType(ct) == nil; got != ok {
			t.Errorf("%q: accepted=%v, want %v", ct, got, ok)
		}
	}
}
