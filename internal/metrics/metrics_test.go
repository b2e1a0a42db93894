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
		m.GraphQLRequest(fmt.Sprintf("Op%d", i), "OK", time.Millisecond)
	}
	m.GraphQLRequest("", "OK", time.Millisecond)
	m.GraphQLRequest(`bad"name{}`, "OK", time.Millisecond)

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
	m.GraphQLRequest("Op0", "OK", time.Millisecond)
	if got := testutil.ToFloat64(m.graphqlRequests.WithLabelValues("Op0", "OK")); got != 2 {
		t.Fatalf("Op0 = %v, want 2", got)
	}
}
