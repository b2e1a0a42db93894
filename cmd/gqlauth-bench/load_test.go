package main

import (
	"context"
	"errors"
	"math"
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

// TestPairedRatio: the ratio is the median of the rounds' ratios, so
// that one round slowed from outside does not decide it; with fewer
// than three rounds it is the ratio of the totals.
func TestPairedRatio(t *testing.T) {
	floor := loadResult{RPS: 100, RoundRPS: []float64{100, 100, 100, 100, 100}}
	g := loadResult{RPS: 70, RoundRPS: []float64{82, 81, 20, 83, 84}}
	if r := pairedRatio(g, floor); math.Abs(r-0.82) > 1e-9 {
		t.Errorf("paired ratio %v, want 0.82 (the median; the slowed round set aside)", r)
	}
	even := loadResult{RoundRPS: []float64{80, 90, 70, 100}}
	if r := pairedRatio(even, loadResult{RoundRPS: []float64{100, 100, 100, 100}}); math.Abs(r-0.85) > 1e-9 {
		t.Errorf("paired ratio of four rounds %v, want 0.85 (the mean of the middle two)", r)
	}
	two := loadResult{RPS: 50, RoundRPS: []float64{10, 90}}
	if r := pairedRatio(two, loadResult{RPS: 100, RoundRPS: []float64{100, 100}}); r != 0.5 {
		t.Errorf("two rounds: %v, want the totals' 0.5", r)
	}
}
