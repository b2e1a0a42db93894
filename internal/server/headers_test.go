package server

import (
	"net/http"
	"testing"
)

// TestFixedHeadersAreNotShared checks that adding to a header set from
// fixedHeaders on one response leaves the next response's value alone.
func TestFixedHeadersAreNotShared(t *testing.T) {
	first, second := http.Header{}, http.Header{}
	noStoreHeader.setOn(first)
	first.Add("Cache-Control", "private")
	first.Values("Cache-Control")[0] = "changed in place"
	noStoreHeader.setOn(second)
	if got := second.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
		t.Fatalf("the next response's Cache-Control is %q", got)
	}
	securityHeaderValues.setOn(second)
	if got := second.Get("X-Frame-Options"); got != "DENY" {
		t.Fatalf("X-Frame-Options is %q (key not canonical?)", got)
	}
}
