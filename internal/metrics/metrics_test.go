package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestOperationLabelIsBounded: clients choose operation names, so the
// label must not grow without bound nor carry odd characters.
func TestOperationLabelIsBounded(t *testing.T) {
	m := New(nil)
	for i := range 3 * maxOperationNames {
		m.GraphQLRequest(fmt.Sprintf("Op%d", i), true, "OK", time.Millisecond)
	}
	m.GraphQLRequest("", true, "OK", time.Millisecond)
	m.GraphQLRequest(`bad"name{}`, true, "OK", time.Millisecond)

	if n := testutil.CollectAndCount(m.graphqlRequests); n != maxOperationNames+2 {
		t.Fatalf("%d series, want %d named + anonymous + other", n, maxOperationNames)
	}
	if got := testutil.ToFloat64(m.graphqlRequests.WithLabelValues("other", "OK")); got != 2*maxOperationNames+1 {
		t.Fatalf("other = %v, want %d", got, 2*maxOperationNames+1)
	}
	if got := testutil.ToFloat64(m.graphqlRequests.WithLabelValues("anonymous", "OK")); got != 1 {
		t.Fatalf("anonymous = %v, want 1", got)
	}
	// A name seen before the bound keeps its own series.
	m.GraphQLRequest("Op0", true, "OK", time.Millisecond)
	if got := testutil.ToFloat64(m.graphqlRequests.WithLabelValues("Op0", "OK")); got != 2 {
		t.Fatalf("Op0 = %v, want 2", got)
	}
}

// TestInvalidOperationsTakeNoSlot: names from documents refused before
// execution are counted as "invalid" and leave every slot free.
func TestInvalidOperationsTakeNoSlot(t *testing.T) {
	m := New(nil)
	for i := range 3 * maxOperationNames {
		m.GraphQLRequest(fmt.Sprintf("Junk%d", i), false, "GRAPHQL_VALIDATION_FAILED", time.Millisecond)
	}
	if got := testutil.ToFloat64(m.graphqlRequests.WithLabelValues("invalid", "GRAPHQL_VALIDATION_FAILED")); got != 3*maxOperationNames {
		t.Fatalf("invalid = %v, want %d", got, 3*maxOperationNames)
	}
	for i := range maxOperationNames {
		m.GraphQLRequest(fmt.Sprintf("Op%d", i), true, "OK", time.Millisecond)
	}
	if n := testutil.CollectAndCount(m.graphqlRequests); n != maxOperationNames+1 {
		t.Fatalf("%d series, want %d named + invalid", n, maxOperationNames)
	}
	if got := testutil.ToFloat64(m.graphqlRequests.WithLabelValues(fmt.Sprintf("Op%d", maxOperationNames-1), "OK")); got != 1 {
		t.Fatalf("the last slot went to %v requests, want 1", got)
	}
}
