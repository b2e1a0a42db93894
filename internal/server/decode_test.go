package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
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
		// The fast path (decodeValid) reads what the strict decoder reads.
		// A key sent twice is the one difference: the strict decoder
		// merges the two objects, the fast one keeps the last.
		var strict graphQLRequest
		if rerr := decodeStrictly(body, &strict); rerr != nil {
			t.Fatalf("accepted %q, which the strict decoder refuses: %v", body, rerr)
		}
		if strict.Query != req.Query || strict.OperationName != req.OperationName || strict.DocumentID != req.DocumentID ||
			!within(req.Variables, strict.Variables) || !within(req.Extensions, strict.Extensions) {
			t.Fatalf("decoded %q as %+v, the strict decoder as %+v", body, req, strict)
		}
	})
}

// within reports whether every entry of a is in b.
func within(a, b map[string]any) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !reflect.DeepEqual(v, w) {
			return false
		}
	}
	return true
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

// FuzzGraphQLRequestGuard drives the HTTP guard of /graphql (body limit,
// method, content type, decoder) with arbitrary requests: every refusal
// is a JSON GraphQL error with a code and one of the documented
// statuses, and an accepted request reaches the handler with its body
// unchanged.
func FuzzGraphQLRequestGuard(f *testing.F) {
	f.Add("POST", "application/json", []byte(`{"query":"{ me { id } }"}`))
	f.Add("POST", "application/json; charset=utf-8", []byte(`[{"query":"{ me { id } }"}]`))
	f.Add("POST", "text/plain", []byte(`{"query":"{ me { id } }"}`))
	f.Add("POST", "application/json", bytes.Repeat([]byte("x"), 5000))
	f.Add("GET", "", []byte(nil))
	f.Add("PUT", "application/json", []byte(`{}`))
	f.Add("POST", "multipart/form-data; boundary=x", []byte("--x--"))
	f.Fuzz(func(t *testing.T, method, contentType string, body []byte) {
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") || !utf8.ValidString(method) {
			return // not an HTTP method token; net/http refuses these itself
		}
		var got []byte
		reached := false
		next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached = true
			got, _ = io.ReadAll(r.Body)
		})
		h := limitBody(4096, checkGraphQLRequest(next))
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		req.Method = method
		req.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if reached {
			if method == http.MethodPost && !bytes.Equal(got, body) {
				t.Fatalf("handler got %q, sent %q", got, body)
			}
			return
		}
		switch w.Code {
		case 400, 405, 413, 415:
		default:
			t.Fatalf("refused with status %d", w.Code)
		}
		var resp struct {
			Errors []struct {
				Message    string
				Extensions struct{ Code string }
			}
		}
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp.Errors) != 1 || resp.Errors[0].Extensions.Code == "" {
			t.Fatalf("refusal is not a coded GraphQL error: %s", w.Body.Bytes())
		}
	})
}

// TestEmptyVariablesCostNothing: variables and extensions sent as null
// or {}, as most clients send them, decode with no allocation beyond a
// request without them (they went through a json.Decoder and its buffer,
// the largest allocation of a `me` request), to what the strict decoder
// reads.
func TestEmptyVariablesCostNothing(t *testing.T) {
	const doc = `"query":"query { me { id email username role } }"`
	base := testing.AllocsPerRun(100, func() { decodeValid([]byte(`{` + doc + `}`)) })
	for _, extra := range []string{`"variables":null`, `"variables":{}`, `"variables":null,"extensions":{}`} {
		body := []byte(`{` + doc + `,` + extra + `}`)
		req, ok := decodeValid(body)
		var strict graphQLRequest
		if !ok || decodeStrictly(body, &strict) != nil {
			t.Fatalf("%s: not decoded", body)
		}
		if !reflect.DeepEqual(req.Variables, strict.Variables) || !reflect.DeepEqual(req.Extensions, strict.Extensions) {
			t.Errorf("%s: decoded %#v/%#v, the strict decoder %#v/%#v", body, req.Variables, req.Extensions, strict.Variables, strict.Extensions)
		}
		// What is left is json.Unmarshal's: a copy of each raw value
		// (null's too), and for {} the empty map the strict decoder makes
		// too. The decoder cost 4 to 7 more for each.
		want := base + float64(strings.Count(extra, ":"))*2
		if got := testing.AllocsPerRun(100, func() { decodeValid(body) }); got > want {
			t.Errorf("%s: %v allocations, want at most %v (%v without)", extra, got, want, base)
		}
	}
}
