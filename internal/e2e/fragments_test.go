package e2e

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// spreadChain is `query { ...F0 }` with F0 spreading F1 … up to F<levels>,
// which selects sel: about 1 KB at 30 levels. gqlgen before v0.17.98
// doubled the collected selections at every level (2^30 at 30 levels:
// the kernel's out-of-memory killer).
func spreadChain(levels int, sel string) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }\n")
	for i := range levels {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d }\n", i, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query { %s }\n", levels, sel)
	return b.String()
}

// inlineChain nests inline fragments levels deep around sel: under 500
// bytes did the same.
func inlineChain(levels int, sel string) string {
	return "query { " + strings.Repeat("... on Query { ", levels) + sel + strings.Repeat(" }", levels) + " }"
}

// fanOut is a document of `levels` fragments each spreading the next
// `width` times: the executor collects each once, but a walk that expands
// every spread visits width^levels of them.
func fanOut(levels, width int) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }\n")
	for i := range levels {
		fmt.Fprintf(&b, "fragment F%d on Query {%s }\n", i, strings.Repeat(fmt.Sprintf(" ...F%d", i+1), width))
	}
	fmt.Fprintf(&b, "fragment F%d on Query { me { id } }\n", levels)
	return b.String()
}

// allocated runs fn and returns the bytes the process allocated meanwhile
// (an upper bound of what its heap grew by) and how long it took.
func allocated(fn func()) (uint64, time.Duration) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	fn()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, took
}

const (
	// fragmentBombMaxAlloc is what one fragment-bomb request may allocate.
	fragmentBombMaxAlloc = 10 << 20
	// fragmentBombMaxTime bounds its answer loosely: the race detector and
	// a loaded CI machine slow everything, but the blow-up this guards
	// against took seconds at 20 levels and minutes at 30.
	fragmentBombMaxTime = 2 * time.Second
)

// TestFragmentBombs sends the nested-fragment documents that exhausted
// memory (issue 10): with the fragment-depth limit off they must still be
// answered with flat memory (gqlgen's own collection is linear), and with
// the default limit they are refused up front with FRAGMENTS_TOO_DEEP.
// Signed in, so that the child selections are collected and run too.
func TestFragmentBombs(t *testing.T) {
	big := "me { id email username firstName lastName role createdAt updatedAt __typename }"
	docs := map[string]string{
		"spread chain, me { id }":          spreadChain(30, "me { id }"),
		"spread chain, larger selection":   spreadChain(30, big),
		"inline chain, me { id }":          inlineChain(30, "me { id }"),
		"inline chain, larger selection":   inlineChain(30, big),
		"spread chain under a field":       spreadChain(30, "me { ...U }") + "fragment U on User { ... on User { ... on User { id email } } }",
		"fragment fan-out, 6 × 40 spreads": fanOut(6, 40),
	}
	for _, limit := range []string{"0", ""} {
		overrides := map[string]string{"GRAPHQL_MAX_FRAGMENT_DEPTH": limit}
		name := "limit off"
		if limit == "" {
			overrides, name = nil, "default limit"
		}
		t.Run(name, func(t *testing.T) {
			srv := apptest.New(t, apptest.Backends[0], overrides)
			c := srv.Client()
			email := apptest.UniqueEmail("bomb")
			c.SignUp(t, email, "correct horse")
			for what, doc := range docs {
				t.Run(what, func(t *testing.T) {
					var res *apptest.Response
					bytes, took := allocated(func() { res = c.Do(t, doc, nil) })
					t.Logf("%d bytes of document: %d %s, %.1f MB allocated, %s", len(doc), res.Status, res.Code(), float64(bytes)/(1<<20), took.Round(time.Millisecond))
					if bytes > fragmentBombMaxAlloc || took > fragmentBombMaxTime {
						t.Fatalf("allocated %d bytes in %s; at most %d bytes in %s", bytes, took, fragmentBombMaxAlloc, fragmentBombMaxTime)
					}
					switch {
					case limit == "" && strings.HasPrefix(what, "fragment fan-out"):
						// 7 levels of fragments: within the default limit of 8.
						var out struct{ Me struct{ ID string } }
						res.Decode(t, &out)
						if out.Me.ID == "" {
							t.Fatalf("no user: %s", res.Body)
						}
					case limit == "":
						if res.Code() != "FRAGMENTS_TOO_DEEP" || !strings.Contains(res.Errors[0].Message, "limit of 8") {
							t.Fatalf("want FRAGMENTS_TOO_DEEP naming the limit, got %d %s", res.Status, res.Body)
						}
					default:
						var out struct{ Me struct{ ID, Email string } }
						res.Decode(t, &out)
						if out.Me.ID == "" {
							t.Fatalf("no user: %s", res.Body)
						}
					}
				})
			}
		})
	}
}
