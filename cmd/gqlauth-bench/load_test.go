package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSummarize checks the percentiles, the rate and the error count
// that the table reports.
func TestSummarize(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	r := summarize([]sample{
		{lat: lat[:50], elapsed: time.Second, cpu: 10 * time.Millisecond, errs: 1, firstErr: "boom"},
		{lat: lat[50:], elapsed: time.Second, cpu: 10 * time.Millisecond},
	})
	if r.P50 != 51*time.Millisecond || r.P99 != 100*time.Millisecond {
		t.Errorf("p50 %v, p99 %v; want 51ms, 100ms", r.P50, r.P99)
	}
	if r.RPS != 50 || r.Requests != 101 || r.Errors != 1 || r.FirstError != "boom" {
		t.Errorf("rps %v, requests %d, errors %d (%q); want 50, 101, 1 (boom)", r.RPS, r.Requests, r.Errors, r.FirstError)
	}
	if r.CPUPerRequest != 200*time.Microsecond {
		t.Errorf("CPU per request %v, want 200µs", r.CPUPerRequest)
	}
}

// TestDriveCountsErrors checks that a failing request counts as an
// error and not as a success.
func TestDriveCountsErrors(t *testing.T) {
	n := 0
	w := func(context.Context) error {
		n++
		time.Sleep(time.Millisecond)
		if n%2 == 0 {
			return errors.New("GraphQL error")
		}
		return nil
	}
	s := drive(context.Background(), []step{w}, 10*time.Millisecond, 100*time.Millisecond, func() time.Duration { return 0 })
	if s.errs == 0 || len(s.lat) == 0 || s.firstErr != "GraphQL error" {
		t.Fatalf("errors %d, successes %d, first error %q", s.errs, len(s.lat), s.firstErr)
	}
	if d := s.errs - len(s.lat); d < -1 || d > 1 {
		t.Errorf("errors %d and successes %d should alternate", s.errs, len(s.lat))
	}
}
