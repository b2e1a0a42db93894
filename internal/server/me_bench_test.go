package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// meQuery is the authenticated read a client makes on every page load.
var meQuery = []byte(`{"query":"query { me { id email username role } }","variables":null}`)

// BenchmarkMeRequest measures the whole `me` request in-process: the
// middleware, gqlgen (with its query cache warm), the access-token check,
// the deny-list lookup and the user's SELECT, and the JSON response.
func BenchmarkMeRequest(b *testing.B) {
	for _, backend := range apptest.Backends {
		b.Run(backend.Name, func(b *testing.B) { benchmarkMe(b, backend) })
	}
}

func benchmarkMe(b *testing.B, backend apptest.Backend) {
	me := meServer(b, backend)
	b.ReportAllocs()
	for b.Loop() {
		if err := me(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMeRequestParallel is BenchmarkMeRequest from 32 goroutines at
// once, as the load benchmark drives it: with the CPUs busy, ns/op is
// the CPU a request costs (gqlauth's, PostgreSQL's and Redis's together),
// and cpu-ns/op this process's alone.
func BenchmarkMeRequestParallel(b *testing.B) {
	me := meServer(b, apptest.Backend{Name: "postgres+redis", Postgres: true, Redis: true})
	b.ReportAllocs()
	b.SetParallelism(16)
	before := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := me(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64((cpuTime(b)-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// meServer starts gqlauth on backend with a signed-up user and returns
// one `me` request of that user through the whole handler, which fails
// unless it answers with the user.
func meServer(b *testing.B, backend apptest.Backend) func() error {
	srv := apptest.New(b, backend, nil)
	c := srv.Client()
	me := c.SignUp(b, apptest.UniqueEmail("me"), "correct horse battery")
	auth := "Bearer " + me.AccessToken
	want := []byte(me.User.ID)
	return func() error {
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(meQuery))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		srv.Handler.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if rec.Code != http.StatusOK || bytes.Contains(body, []byte(`"errors"`)) || !bytes.Contains(body, want) {
			return fmt.Errorf("me: %d %s", rec.Code, body)
		}
		return nil
	}
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
