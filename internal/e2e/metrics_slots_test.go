package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// TestMetricsOperationSlotsNeedExecution: the operation label keeps the
// first 200 distinct names for good, so names from documents refused
// before execution must not take a slot. 300 refused documents with
// distinct names (100 that do not parse, 100 that do not validate, 100
// without their required variable) are counted as "invalid" and leave
// every slot free: 200 executed operations afterwards are each labelled
// by their name.
func TestMetricsOperationSlotsNeedExecution(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	c := srv.Client()
	refused := map[string]string{
		"GRAPHQL_PARSE_FAILED":      `query Unparsable%d { me {`,
		"GRAPHQL_VALIDATION_FAILED": `query Unknown%d { noSuchField }`,
	}
	for code, doc := range refused {
		for i := range 100 {
			if res := c.Do(t, fmt.Sprintf(doc, i), nil); res.Code() != code {
				t.Fatalf("%s: %s", doc, res.Body)
			}
		}
	}
	for i := range 100 {
		doc := fmt.Sprintf(`query NoVariable%d($id: ID!) { user(id: $id) { id } }`, i)
		if res := c.Do(t, doc, nil); res.Code() != "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("%s: %s", doc, res.Body)
		}
	}
	for i := range 200 {
		if res := c.Do(t, fmt.Sprintf(`query Valid%d { __typename }`, i), nil); len(res.Errors) > 0 {
			t.Fatalf("Valid%d: %s", i, res.Body)
		}
	}

	fams := opsScrape(t, srv.HTTP.URL+"/metrics")
	for i := range 200 {
		if got := opsValue(fams, "gqlauth_graphql_requests_total", map[string]string{"operation": fmt.Sprintf("Valid%d", i), "code": "OK"}); got != 1 {
			t.Fatalf("operation=Valid%d: %v requests, want 1 (its own label)", i, got)
		}
	}
	if got := opsValue(fams, "gqlauth_graphql_requests_total", map[string]string{"operation": "other"}); got != -1 {
		t.Errorf("operation=other has %v requests: a slot was taken", got)
	}
	for code, want := range map[string]float64{"GRAPHQL_PARSE_FAILED": 100, "GRAPHQL_VALIDATION_FAILED": 200} {
		if got := opsValue(fams, "gqlauth_graphql_requests_total", map[string]string{"operation": "invalid", "code": code}); got != want {
			t.Errorf("operation=invalid code=%s: %v, want %v", code, got, want)
		}
	}
	for _, m := range fams["gqlauth_graphql_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "operation" && (strings.HasPrefix(l.GetValue(), "Unparsable") || strings.HasPrefix(l.GetValue(), "Unknown") || strings.HasPrefix(l.GetValue(), "NoVariable")) {
				t.Fatalf("a refused document took a label: operation=%s", l.GetValue())
			}
		}
	}
}
