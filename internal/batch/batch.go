// Package batch runs look-ups together when they arrive faster than the
// store answers them: while fewer than a limit are in flight, each runs
// at once on its own; past that, the ones that arrive wait together and
// run as one batch as soon as a look-up in flight returns. A store
// answers a batch of n keys for little more than the price of one (one
// round trip, one statement), so under load the work per look-up falls,
// and at rest nothing waits.
//
// Every look-up starts after it was asked for: a batch never takes a
// key once its query has started, so a look-up sees whatever was
// committed before it was made. Nothing is cached.
package batch

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// Fetch answers keys, one result per key in the same order. It is
// called with one key when the look-up ran alone, with several for a
// batch (in the order they were asked, duplicates included).
type Fetch[K, V any] func(ctx context.Context, keys []K) []Result[V]

// Result is the answer to one key.
type Result[V any] struct {
	Value V
	Err   error
}

// Loader runs the look-ups of Fetch, alone or in batches.
type Loader[K, V any] struct {
	fetch Fetch[K, V]
	limit int

	mu       sync.Mutex
	inflight int          // look-ups and batches running
	waiting  *group[K, V] // the batch being gathered, nil when none
}

// group is a batch: the keys gathered while every slot was taken, and
// their answers once done is closed.
type group[K, V any] struct {
	ctx     context.Context
	cancel  context.CancelFunc
	keys    []K
	results []Result[V]
	done    chan struct{}
	// waiters are the callers still waiting (under Loader.mu): when the
	// last gives up, the batch's context ends, so that a store that
	// does not answer holds the slot no longer than someone waits.
	waiters int
}

// PerCPU is the limit gqlauth's loaders use: one look-up in flight per
// CPU, at least 2. More in flight than the CPUs can answer only queue in
// the store; fewer leaves a round trip's wait unused.
func PerCPU() int { return max(2, runtime.GOMAXPROCS(0)) }

// New returns a loader that runs at most limit look-ups or batches at
// once (at least 1).
func New[K, V any](limit int, fetch Fetch[K, V]) *Loader[K, V] {
	return &Loader[K, V]{fetch: fetch, limit: max(limit, 1)}
}

// Load answers key: at once when a slot is free, else with the next
// batch. The batch runs under the context of its first key, without its
// cancellation (a client that goes away does not fail the others) until
// every caller of the batch has stopped waiting; a caller whose ctx ends
// stops waiting with ctx.Err().
func (l *Loader[K, V]) Load(ctx context.Context, key K) (V, error) {
	l.mu.Lock()
	if l.inflight < l.limit && l.waiting == nil {
		l.inflight++
		l.mu.Unlock()
		defer l.release()
		r := l.fetch(ctx, []K{key})
		if len(r) != 1 {
			var zero V
			return zero, fmt.Errorf("batch: fetch answered %d of 1 key", len(r))
		}
		return r[0].Value, r[0].Err
	}
	g := l.waiting
	if g == nil {
		g = &group[K, V]{done: make(chan struct{})}
		g.ctx, g.cancel = context.WithCancel(context.WithoutCancel(ctx))
		l.waiting = g
	}
	i := len(g.keys)
	g.keys = append(g.keys, key)
	g.waiters++
	// A slot may have been freed while no batch was waiting.
	start := l.inflight < l.limit
	if start {
		l.inflight++
		l.waiting = nil
	}
	l.mu.Unlock()
	if start {
		go l.run(g)
	}
	select {
	case <-g.done:
		r := g.results[i]
		return r.Value, r.Err
	case <-ctx.Done():
		l.mu.Lock()
		g.waiters--
		if g.waiters == 0 {
			if l.waiting == g {
				// Not started: drop it, so that the next caller starts a
				// batch of its own rather than join a cancelled one.
				l.waiting = nil
			}
			g.cancel()
		}
		l.mu.Unlock()
		var zero V
		return zero, ctx.Err()
	}
}

// release frees a slot, or hands it to the waiting batch.
func (l *Loader[K, V]) release() {
	l.mu.Lock()
	g := l.waiting
	if g == nil {
		l.inflight--
		l.mu.Unlock()
		return
	}
	l.waiting = nil
	l.mu.Unlock()
	go l.run(g)
}

// run answers a batch in its slot, then passes the slot on. A Fetch
// that panics, or answers the wrong number of keys, fails the batch
// (in its own goroutine, a panic would end the process).
func (l *Loader[K, V]) run(g *group[K, V]) {
	defer l.release()
	defer g.cancel()
	defer close(g.done)
	defer func() {
		if p := recover(); p != nil {
			g.results = failed[V](len(g.keys), fmt.Errorf("batch: fetch panicked: %v", p))
		}
	}()
	g.results = l.fetch(g.ctx, g.keys)
	if len(g.results) != len(g.keys) {
		g.results = failed[V](len(g.keys), fmt.Errorf("batch: fetch answered %d of %d keys", len(g.results), len(g.keys)))
	}
}

// failed is n results of err.
func failed[V any](n int, err error) []Result[V] {
	rs := make([]Result[V], n)
	for i := range rs {
		rs[i].Err = err
	}
	return rs
}

// InFlight is how many look-ups and batches are running (for tests).
func (l *Loader[K, V]) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inflight
}
