package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

func goVersion() string { return runtime.Version() }
func numCPU() int       { return runtime.NumCPU() }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// printTable writes the run as one table (Markdown, so that it can be
// pasted into docs/performance.md as is) and the checks under it.
func printTable(w io.Writer, r *runReport) {
	limit := "unset"
	if r.GOMEMLIMIT != "" {
		limit = r.GOMEMLIMIT
	}
	fmt.Fprintf(w, "\n%d connections; each target measured %s per scenario in %d alternating rounds (signIn %s in %d) after warm-up; bcrypt cost %d; %d CPUs; %s; gqlauth GOMEMLIMIT %s\n\n",
		r.Conns, r.Duration, r.Rounds, r.SignInDuration, r.SignInRounds, r.BcryptCost, r.CPUs, r.GoVersion, limit)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| scenario\t target\t requests/s\t p50\t p99\t errors\t ratio to floor\t peak RSS\t CPU/request\t CPU ratio\t")
	fmt.Fprintln(tw, "|---\t---\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t")
	for _, s := range r.Scenarios {
		target := "-"
		if s.Target > 0 {
			verdict := "met"
			if s.Ratio < s.Target {
				verdict = "MISSED"
			}
			target = fmt.Sprintf("≥ %.0f%% (%s)", 100*s.Target, verdict)
		}
		cpuRatio := ""
		if s.CPURatio > 0 {
			cpuRatio = fmt.Sprintf("%.1f%%", 100*s.CPURatio)
		}
		fmt.Fprintf(tw, "| %s (gqlauth)\t %s\t %.0f\t %s\t %s\t %d\t %.1f%%\t %s\t %s\t %s\t\n",
			s.Scenario, target, s.Gqlauth.RPS, ms(s.Gqlauth.P50), ms(s.Gqlauth.P99), s.Gqlauth.Errors, 100*s.Ratio, mib(s.PeakRSS), us(s.Gqlauth.CPUPerRequest), cpuRatio)
		if s.Floor != nil {
			fmt.Fprintf(tw, "| %s (floor)\t \t %.0f\t %s\t %s\t %d\t \t %s\t %s\t \t\n",
				s.Scenario, s.Floor.RPS, ms(s.Floor.P50), ms(s.Floor.P99), s.Floor.Errors, mib(s.FloorPeakRSS), us(s.Floor.CPUPerRequest))
		} else {
			fmt.Fprintf(tw, "| %s (floor, from its parts)\t \t %.0f\t \t \t \t \t \t \t \t\n", s.Scenario, s.FloorRPS)
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\nratio to floor: the median of the rounds' ratios (gqlauth's rate over the floor's just before it):")
	for _, s := range r.Scenarios {
		if s.Floor == nil {
			continue
		}
		var rounds []string
		for _, r := range roundRatios(s.Gqlauth, *s.Floor) {
			rounds = append(rounds, fmt.Sprintf("%.1f%%", 100*r))
		}
		if rounds == nil {
			continue
		}
		fmt.Fprintf(w, "- %s: %s (median %.1f%%; all rounds together %.1f%%)\n", s.Scenario, strings.Join(rounds, ", "), 100*s.Ratio, 100*s.TotalsRatio)
	}
	rssVerdict := "met"
	if r.MaxPeakRSS > 50<<20 {
		rssVerdict = "MISSED"
	}
	fmt.Fprintf(w, "\npeak RSS of gqlauth: %s (target ≤ 50 MiB: %s); idle after start: %s; under load at most %s anonymous + %s file-backed (its binary)\n",
		mib(r.MaxPeakRSS), rssVerdict, mib(r.IdleRSS), mib(r.RSSAnon), mib(r.RSSFile))
	rc := r.Rotation
	fmt.Fprintf(w, "rotation check: %d sessions, %d live tokens, %d successful refreshes, %d rotated tokens: %s\n",
		rc.Sessions, rc.LiveTokens, rc.Successes, rc.RotatedTokens, okText(rc.OK, "no lost or doubled rotation", "LOST OR DOUBLED ROTATIONS"))
	h := r.Housekeeping
	fmt.Fprintf(w, "housekeeping (retention %s): %d refresh-token rows before, %d deleted, %d after = %d live + %d in retention: %s\n",
		h.Retention, h.RowsBefore, h.Deleted, h.RowsAfter, h.LiveTokens, h.InRetention, okText(h.Bounded, "bounded", "NOT BOUNDED"))
	for _, s := range r.Scenarios {
		if s.Gqlauth.FirstError != "" {
			fmt.Fprintf(w, "first %s error: %s\n", s.Scenario, firstLine(s.Gqlauth.FirstError))
		}
		if s.Floor != nil && s.Floor.FirstError != "" {
			fmt.Fprintf(w, "first %s floor error: %s\n", s.Scenario, firstLine(s.Floor.FirstError))
		}
	}
}

func okText(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
