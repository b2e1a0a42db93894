package batch_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/internal/batch"
)

// store answers keys with their double, and records each call's keys;
// while block is not nil, every call waits for it to close.
type store struct {
	mu    sync.Mutex
	calls [][]int
	block chan struct{}
	err   map[int]error
}

func (s *store) fetch(ctx context.Context, keys []int) []batch.Result[int] {
	s.mu.Lock()
	s.calls = append(s.calls, append([]int(nil), keys...))
	block := s.block
	s.mu.Unlock()
	if block != nil {
		<-block
	}
	out := make([]batch.Result[int], len(keys))
	for i, k := range keys {
		out[i] = batch.Result[int]{Value: 2 * k, Err: s.err[k]}
		if ctx.Err() != nil { // as a store stops when its context ends
			out[i].Err = ctx.Err()
		}
	}
	return out
}

func (s *store) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// TestAloneWhenIdle: below the limit each look-up runs at once, alone,
// in the caller's goroutine.
func TestAloneWhenIdle(t *testing.T) {
	s := &store{}
	l := batch.New(2, s.fetch)
	for k := range 5 {
		v, err := l.Load(context.Background(), k)
		if err != nil || v != 2*k {
			t.Fatalf("Load(%d) = %d, %v", k, v, err)
		}
	}
	if len(s.calls) != 5 {
		t.Fatalf("calls %v, want five of one key", s.calls)
	}
	for _, c := range s.calls {
		if len(c) != 1 {
			t.Fatalf("calls %v, want five of one key", s.calls)
		}
	}
	if n := l.InFlight(); n != 0 {
		t.Fatalf("%d in flight after the look-ups", n)
	}
}

// TestBatchWhenBusy: with every slot taken, look-ups gather into one
// batch, which runs when a slot frees; each gets its own key's answer,
// duplicates and errors included.
func TestBatchWhenBusy(t *testing.T) {
	s := &store{block: make(chan struct{}), err: map[int]error{13: errors.New("thirteen")}}
	l := batch.New(1, s.fetch)
	type answer struct {
		k, v int
		err  error
	}
	answers := make(chan answer, 10)
	load := func(k int) {
		v, err := l.Load(context.Background(), k)
		answers <- answer{k, v, err}
	}
	go load(1) // takes the one slot, and blocks
	waitFor(t, func() bool { return s.callCount() == 1 })
	keys := []int{10, 11, 11, 12, 13}
	for _, k := range keys {
		go load(k)
	}
	// They wait: nothing more reaches the store while the slot is held.
	time.Sleep(50 * time.Millisecond)
	if n := s.callCount(); n != 1 {
		t.Fatalf("%d calls while the slot was held", n)
	}
	s.mu.Lock()
	close(s.block)
	s.block = nil
	s.mu.Unlock()
	for range 1 + len(keys) {
		a := <-answers
		wantErr := a.k == 13
		if a.v != 2*a.k || (a.err != nil) != wantErr {
			t.Errorf("Load(%d) = %d, %v", a.k, a.v, a.err)
		}
	}
	if len(s.calls) != 2 || len(s.calls[1]) != len(keys) {
		t.Fatalf("calls %v, want [1] then one batch of the five", s.calls)
	}
	waitFor(t, func() bool { return l.InFlight() == 0 })
}

// TestCallerGivesUp: a caller whose context ends stops waiting; the
// batch still answers the others.
func TestCallerGivesUp(t *testing.T) {
	s := &store{block: make(chan struct{})}
	l := batch.New(1, s.fetch)
	go l.Load(context.Background(), 1)
	waitFor(t, func() bool { return s.callCount() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { _, err := l.Load(ctx, 2); gaveUp <- err }()
	other := make(chan int, 1)
	go func() { v, _ := l.Load(context.Background(), 3); other <- v }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	s.mu.Lock()
	close(s.block)
	s.block = nil
	s.mu.Unlock()
	if v := <-other; v != 6 {
		t.Fatalf("the other caller got %d", v)
	}
	waitFor(t, func() bool { return l.InFlight() == 0 })
}

// TestFetchFailures: a batch whose fetch panics or answers the wrong
// number of keys fails its callers instead of the process.
func TestFetchFailures(t *testing.T) {
	for name, fetch := range map[string]batch.Fetch[int, int]{
		"panic": func(ctx context.Context, keys []int) []batch.Result[int] {
			if len(keys) > 1 {
				panic("boom")
			}
			time.Sleep(30 * time.Millisecond)
			return []batch.Result[int]{{Value: 1}}
		},
		"short": func(ctx context.Context, keys []int) []batch.Result[int] {
			time.Sleep(30 * time.Millisecond)
			return []batch.Result[int]{{Value: 1}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := batch.New(1, fetch)
			go l.Load(context.Background(), 0)
			time.Sleep(5 * time.Millisecond)
			var wg sync.WaitGroup
			var failures atomic.Int32
			for k := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := l.Load(context.Background(), k+1); err != nil {
						failures.Add(1)
					}
				}()
			}
			wg.Wait()
			if failures.Load() != 3 {
				t.Fatalf("%d of the batch's 3 callers failed", failures.Load())
			}
			waitFor(t, func() bool { return l.InFlight() == 0 })
		})
	}
}

// TestManyCallers: under -race, many goroutines get their own key's
// answer; the look-ups in flight never pass the limit, and the store saw
// fewer calls than look-ups.
func TestManyCallers(t *testing.T) {
	var inStore, most atomic.Int32
	var calls atomic.Int32
	l := batch.New(2, func(ctx context.Context, keys []int) []batch.Result[int] {
		calls.Add(1)
		n := inStore.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(200 * time.Microsecond)
		inStore.Add(-1)
		out := make([]batch.Result[int], len(keys))
		for i, k := range keys {
			out[i].Value = 2 * k
		}
		return out
	})
	var wg sync.WaitGroup
	const workers, each = 32, 50
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				k := w*1000 + i
				if v, err := l.Load(context.Background(), k); err != nil || v != 2*k {
					panic(fmt.Sprintf("Load(%d) = %d, %v", k, v, err))
				}
			}
		}()
	}
	wg.Wait()
	if most.Load() > 2 {
		t.Errorf("%d look-ups in the store at once, limit 2", most.Load())
	}
	if c := calls.Load(); c >= workers*each {
		t.Errorf("%d calls for %d look-ups: nothing was batched", c, workers*each)
	}
	if n := l.InFlight(); n != 0 {
		t.Errorf("%d in flight at the end", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached in 5s")
}

// TestBatchEndsWhenNobodyWaits: a batch whose callers have all given up
// is cancelled, so that a store that never answers (no deadline of its
// own) gives the slot back.
func TestBatchEndsWhenNobodyWaits(t *testing.T) {
	release := make(chan struct{})
	var batchCtx atomic.Pointer[context.Context]
	l := batch.New(1, func(ctx context.Context, keys []int) []batch.Result[int] {
		if len(keys) == 1 && keys[0] == 0 {
			<-release // the one slot, held
			return []batch.Result[int]{{}}
		}
		batchCtx.Store(&ctx)
		<-ctx.Done() // a store that answers only when told to stop
		return make([]batch.Result[int], len(keys))
	})
	go l.Load(context.Background(), 0)
	waitFor(t, func() bool { return l.InFlight() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for k := range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); l.Load(ctx, k+1) }()
	}
	time.Sleep(20 * time.Millisecond)
	close(release) // the batch starts, and hangs
	waitFor(t, func() bool { return batchCtx.Load() != nil })
	if err := (*batchCtx.Load()).Err(); err != nil {
		t.Fatalf("the batch's context ended while its callers waited: %v", err)
	}
	cancel()
	wg.Wait()
	waitFor(t, func() bool { return l.InFlight() == 0 })
}

// TestGivenUpBatchIsNotJoined: a batch not yet started whose one caller
// gave up is dropped; the next caller is answered by a batch of its own.
func TestGivenUpBatchIsNotJoined(t *testing.T) {
	s := &store{block: make(chan struct{})}
	l := batch.New(1, s.fetch)
	go l.Load(context.Background(), 1) // holds the slot
	waitFor(t, func() bool { return s.callCount() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan struct{})
	go func() { l.Load(ctx, 2); close(gaveUp) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	<-gaveUp
	answer := make(chan error, 1)
	go func() {
		v, err := l.Load(context.Background(), 3)
		if err == nil && v != 6 {
			err = fmt.Errorf("got %d", v)
		}
		answer <- err
	}()
	time.Sleep(20 * time.Millisecond)
	s.mu.Lock()
	close(s.block)
	s.block = nil
	s.mu.Unlock()
	if err := <-answer; err != nil {
		t.Fatalf("the caller after a given-up batch: %v", err)
	}
	waitFor(t, func() bool { return l.InFlight() == 0 })
}
