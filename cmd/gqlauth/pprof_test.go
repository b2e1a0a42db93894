package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServePprof checks that PPROF_ADDR serves the profiles on their own
// listener and stops with the server's context.
func TestServePprof(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		servePprof(ctx, addr, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	var res *http.Response
	for i := 0; ; i++ {
		res, err = http.Get("http://" + addr + "/debug/pprof/cmdline")
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("pprof did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /debug/pprof/cmdline: %d", res.StatusCode)
	}
	if res, err := http.Get("http://" + addr + "/graphql"); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("the pprof listener serves /graphql: %d", res.StatusCode)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("pprof server did not stop with its context")
	}
}

// TestHeapProfileRate checks that the runtime samples allocations for
// heap profiles only when PPROF_ADDR can serve them.
func TestHeapProfileRate(t *testing.T) {
	env := map[string]string{}
	if got := heapProfileRate(func(k string) string { return env[k] }); got != 0 {
		t.Errorf("without PPROF_ADDR the heap profile rate is %d, want 0 (off)", got)
	}
	env["PPROF_ADDR"] = "127.0.0.1:6060"
	if got := heapProfileRate(func(k string) string { return env[k] }); got <= 0 {
		t.Errorf("with PPROF_ADDR the heap profile rate is %d, want the runtime's", got)
	}
}

// TestGCPercent checks that gqlauth sets its own GC target only when GOGC
// is not set.
func TestGCPercent(t *testing.T) {
	env := map[string]string{}
	if got, ok := gcPercent(func(k string) string { return env[k] }); !ok || got != defaultGCPercent {
		t.Errorf("without GOGC: %d, %v; want %d", got, ok, defaultGCPercent)
	}
	env["GOGC"] = "100"
	if _, ok := gcPercent(func(k string) string { return env[k] }); ok {
		t.Error("GOGC is set, yet gqlauth sets its own target")
	}
}
