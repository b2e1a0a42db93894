package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// newHTTPClient is the load generator's client: keep-alive connections,
// one per worker, kept open between requests.
func newHTTPClient(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// gqlClient posts GraphQL requests to one endpoint and checks answers.
type gqlClient struct {
	http *http.Client
	url  string
}

// gqlError is one error of a GraphQL response.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// Do posts body with an optional bearer token and decodes data into out.
// A non-200 status, a body that is not a GraphQL response, and any GraphQL
// error are all errors: a request counts as a success only when it did
// what it asked.
func (c *gqlClient) Do(ctx context.Context, bearer string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", res.StatusCode, raw)
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("not a GraphQL response: %.200s", raw)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("GraphQL error %v: %s", r.Errors[0].Extensions["code"], r.Errors[0].Message)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			return fmt.Errorf("decode data: %w: %.200s", err, r.Data)
		}
	}
	return nil
}

// step makes one request of a worker; it returns an error when the
// request failed or its answer was wrong.
type step func(ctx context.Context) error

// loadResult is what one scenario measured against one target.
type loadResult struct {
	Requests   int           `json:"requests"`
	Errors     int           `json:"errors"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	RPS        float64       `json:"requests_per_second"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	FirstError string        `json:"first_error,omitempty"`
	// CPUPerRequest is the server process's CPU time (user + system)
	// over the measured stretches, per successful request.
	CPUPerRequest time.Duration `json:"cpu_per_request_ns"`
	// RoundRPS is the rate of each round, in the order measured.
	RoundRPS []float64 `json:"round_rps,omitempty"`
}

// sample is what one measured stretch of one target saw.
type sample struct {
	cpu      time.Duration // the server's CPU time while measuring
	lat      []time.Duration
	errs     int
	firstErr string
	elapsed  time.Duration
}

// drive runs one step function per worker, all at once, for warmup and
// then for duration, and returns what the measured part saw: the requests
// that completed within it (so that slow requests in flight when it
// starts count, and those still in flight when it ends do not: the rate
// is the steady-state throughput). Workers keep their state between
// calls, so a scenario can be driven in rounds. cpu reads the server's
// CPU time at the window's edges.
func drive(ctx context.Context, workers []step, warmup, duration time.Duration, cpu func() time.Duration) sample {
	const (
		warming = iota
		measuring
		stopped
	)
	var (
		phase atomic.Int32
		wg    sync.WaitGroup
		mu    sync.Mutex
		out   sample
	)
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<12)
			nerr := 0
			first := ""
			for phase.Load() != stopped && ctx.Err() == nil {
				t0 := time.Now()
				err := w(ctx)
				d := time.Since(t0)
				if phase.Load() != measuring {
					continue
				}
				if err != nil {
					nerr++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				lat = append(lat, d)
			}
			mu.Lock()
			out.lat = append(out.lat, lat...)
			out.errs += nerr
			if out.firstErr == "" {
				out.firstErr = first
			}
			mu.Unlock()
		}()
	}
	sleep(ctx, warmup)
	cpu0 := cpu()
	start := time.Now()
	phase.Store(measuring)
	sleep(ctx, duration)
	phase.Store(stopped)
	out.elapsed = time.Since(start)
	out.cpu = cpu() - cpu0
	wg.Wait()
	return out
}

// summarize merges the samples of one target into its result.
func summarize(samples []sample) loadResult {
	var (
		all []time.Duration
		r   loadResult
	)
	var cpu time.Duration
	for _, s := range samples {
		if s.elapsed > 0 {
			r.RoundRPS = append(r.RoundRPS, float64(len(s.lat))/s.elapsed.Seconds())
		}
		cpu += s.cpu
		all = append(all, s.lat...)
		r.Errors += s.errs
		r.Elapsed += s.elapsed
		if r.FirstError == "" {
			r.FirstError = s.firstErr
		}
	}
	slices.Sort(all)
	r.Requests = len(all) + r.Errors
	if r.Elapsed > 0 {
		r.RPS = float64(len(all)) / r.Elapsed.Seconds()
	}
	if n := len(all); n > 0 {
		r.P50 = all[n/2]
		r.P99 = all[min(n-1, n*99/100)]
		r.CPUPerRequest = cpu / time.Duration(n)
	}
	return r
}

// pairedRatio is the median, over the rounds, of gqlauth's rate in a
// round over the floor's in the round just before it. A burst of load
// from outside (the 2-core machine runs PostgreSQL, Redis and the load
// generator too) slows the one or two rounds it falls in, whichever
// target they measure: the median of the pairs sets those aside, where
// the ratio of the totals takes them in. With fewer than three pairs it
// is the ratio of the totals.
func pairedRatio(g, floor loadResult) float64 {
	pairs := roundRatios(g, floor)
	if len(pairs) < 3 {
		return ratio(g.RPS, floor.RPS)
	}
	slices.Sort(pairs)
	if n := len(pairs); n%2 == 0 {
		return (pairs[n/2-1] + pairs[n/2]) / 2
	}
	return pairs[len(pairs)/2]
}

// roundRatios is gqlauth's rate in each round over the floor's in the
// round just before it, in the order measured; nil when the rounds do
// not pair up.
func roundRatios(g, floor loadResult) []float64 {
	if len(g.RoundRPS) != len(floor.RoundRPS) {
		return nil
	}
	pairs := make([]float64, len(g.RoundRPS))
	for i := range pairs {
		pairs[i] = ratio(g.RoundRPS[i], floor.RoundRPS[i])
	}
	return pairs
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
