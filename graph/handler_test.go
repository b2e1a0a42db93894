package graph

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

type reportKey struct{}

// TestNewHandlerHooks drives NewHandler through a plain POST transport:
// the HTTP layer's AllowOperation refuses before any limit of the
// document (here, too many credential fields), and Report receives the
// operation's name, outcome code and whether it ran, for valid and
// refused documents alike.
func TestNewHandlerHooks(t *testing.T) {
	gql := NewHandler(&Resolver{}, HandlerOptions{
		Limits: Limits{MaxCredentialFields: 1, MaxDepth: 1},
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		AllowOperation: func(ctx context.Context, kind ast.Operation) *gqlerror.Error {
			if kind == ast.Query {
				return nil
			}
			return &gqlerror.Error{Message: "no " + string(kind), Extensions: map[string]any{"code": "REFUSED_BY_TRANSPORT"}}
		},
		Report: func(ctx context.Context) *OperationReport {
			r, _ := ctx.Value(reportKey{}).(*OperationReport)
			return r
		},
	})
	gql.AddTransport(transport.POST{})

	for _, tc := range []struct {
		name, body string
		want       OperationReport
	}{
		{"a query runs", `{"query":"query Hello { __typename }"}`,
			OperationReport{Answered: true, Name: "Hello", Code: "OK", Executed: true}},
		{"operationName names it", `{"query":"query A { __typename } query B { __typename }","operationName":"B"}`,
			OperationReport{Answered: true, Name: "B", Code: "OK", Executed: true}},
		{"the transport's rule comes before the limits",
			`{"query":"mutation Two { a: refresh { accessToken } b: refresh { accessToken } }"}`,
			OperationReport{Answered: true, Name: "Two", Code: "REFUSED_BY_TRANSPORT"}},
		{"an invalid document is named all the same", `{"query":"query Bad { nope }"}`,
			OperationReport{Answered: true, Name: "Bad", Code: "GRAPHQL_VALIDATION_FAILED"}},
		{"a limit refuses", `{"query":"query Deep { me { id } }"}`,
			OperationReport{Answered: true, Name: "Deep", Code: CodeQueryTooDeep}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := &OperationReport{}
			req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			req = req.WithContext(context.WithValue(req.Context(), reportKey{}, got))
			rec := httptest.NewRecorder()
			gql.ServeHTTP(rec, req)
			if *got != tc.want {
				t.Errorf("reported %+v, want %+v; response %d %s", *got, tc.want, rec.Code, rec.Body)
			}
			var resp struct {
				Errors []struct {
					Extensions map[string]any `json:"extensions"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatalf("response %q: %v", rec.Body, err)
			}
			if tc.want.Code != "OK" && (len(resp.Errors) == 0 || resp.Errors[0].Extensions["code"] != tc.want.Code) {
				t.Errorf("response %s, want the error code %s", rec.Body, tc.want.Code)
			}
		})
	}
}
