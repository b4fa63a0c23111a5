// Package capacity finds the number people ask for: how many concurrent
// clients a target serves completely under its memory cap. The search
// grows the concurrency geometrically until a trial fails, bisects to the
// exact integer between the last pass and the first failure, then
// confirms: the answer must pass Repeats trials in a row and the level
// above it must have failed. It never starts a target itself: a Trial
// function runs one fresh trial and returns what it measured.
package capacity

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/report"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/stats"
)

// Judge says whether a run served its level completely, and if not why:
// every request ok (aborts the scenario asks for are fine), no kill at
// the cap, no process of the target dying, and every client done with at
// least one whole response (none still running when the trial ended).
func Judge(run result.Run, b Bounds) (bool, string) {
	failed, errs, answered := run.Failed, run.Errors, run.OK+run.Aborted
	if b.AllowShed && run.Shed > 0 {
		failed, answered = failed-run.Shed, answered+run.Shed
		errs = maps.Clone(run.Errors)
		if errs[result.StatusOutcome(503)] -= run.Shed; errs[result.StatusOutcome(503)] <= 0 {
			delete(errs, result.StatusOutcome(503))
		}
	}
	switch {
	case run.Error != "":
		return false, run.Error
	case run.OOMKilled:
		return false, report.Killed(run) + " at the cap"
	case !run.MainLived || run.DiedProcesses > 0:
		return false, fmt.Sprintf("%d of its processes died", max(run.DiedProcesses, 1))
	case failed > 0:
		return false, fmt.Sprintf("%d of %d requests failed (%s)", failed, run.Requests, result.KindCounts(errs))
	case run.CutOff > 0:
		return false, fmt.Sprintf("%d requests still running at the end: a longer trial is needed to judge it", run.CutOff)
	case answered < int64(run.Concurrency):
		return false, fmt.Sprintf("only %d whole responses for %d clients", answered, run.Concurrency)
	case run.OK == 0:
		return false, fmt.Sprintf("all %d requests shed: the server served none", run.Shed)
	case b.P99 > 0 && run.LatencyMs.P99 > float64(b.P99)/float64(time.Millisecond):
		return false, fmt.Sprintf("p99 %v above the %v bound", time.Duration(run.LatencyMs.P99*float64(time.Millisecond)).Round(time.Millisecond), b.P99)
	}
	return true, ""
}

// Bounds are what a passing trial must keep to besides its memory cap.
type Bounds struct {
	// P99, when set, is the highest p99 latency of ok responses (to the
	// last body byte) a passing trial may have.
	P99 time.Duration
	// AllowShed counts 503s with Retry-After (result.Client.Shed) as
	// served by design: an admission gate rejecting what does not fit.
	// Every other failure still fails the trial, and at least one response
	// must be whole.
	AllowShed bool
}

// Options drive one target's search.
type Options struct {
	// Max is the highest concurrency tried (default 1024); Repeats the
	// passing trials the answer needs in a row (default 3).
	Max, Repeats int
	// Bounds are what a passing trial keeps to besides the cap.
	Bounds Bounds
	// Trial runs one fresh trial at concurrency c (rep counts the trials
	// at c before it); its error says the target did not start, which
	// ends the search with no answer (ErrNotStarted).
	Trial func(ctx context.Context, c, rep int) (result.Run, error)
	// Deadline, when set, ends the search early: the answer is then the
	// highest level confirmed so far, and the target says so.
	Deadline time.Time
	// Logf gets one line per trial and per turn of the search; Saved is
	// called after every trial (to write capacity.json as it goes).
	Logf  func(format string, args ...any)
	Saved func()
}

// ErrNotStarted ends a search whose target did not start: there is no
// capacity to report, not a capacity of 0.
var ErrNotStarted = errors.New("target did not start")

// ErrBudget ends a search whose Deadline passed.
var ErrBudget = fmt.Errorf("out of budget")

// Search finds t's capacity. It returns ctx's error when interrupted and
// ErrBudget when the deadline passed; t holds the trials so far either way.
func Search(ctx context.Context, o Options, t *result.CapacityTarget) error {
	if o.Max < 1 {
		o.Max = 1024
	}
	if o.Repeats < 1 {
		o.Repeats = 3
	}
	s := &search{o: o, t: t, passes: map[int]int{}, fails: map[int]int{}}
	return s.run(ctx)
}

type search struct {
	o             Options
	t             *result.CapacityTarget
	passes, fails map[int]int // trials at each level
}

// trial runs one trial at c and records it.
func (s *search) trial(ctx context.Context, c int) (bool, error) {
	if !s.o.Deadline.IsZero() && time.Now().After(s.o.Deadline) {
		return false, ErrBudget
	}
	rep := s.passes[c] + s.fails[c]
	run, startErr := s.o.Trial(ctx, c, rep)
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if startErr != nil {
		s.t.Error = "could not start: " + fault.FirstLine(startErr.Error())
		s.logf("%s; no capacity without a running target", s.t.Error)
		if s.o.Saved != nil {
			s.o.Saved()
		}
		return false, fmt.Errorf("%w: %s: %v", ErrNotStarted, s.t.Target, startErr)
	}
	ok, why := Judge(run, s.o.Bounds)
	tr := result.CapacityTrial{Concurrency: c, Repeat: rep, Passed: ok, Why: why,
		PeakRSSBytes: run.PeakRSSBytes, PeakRSSSource: run.PeakRSSSource, OK: run.OK, Requests: run.Requests,
		Shed: run.Shed, P99Ms: run.LatencyMs.P99, DurationS: run.DurationS}
	if run.CapCountsOtherwise() {
		tr.CapChargedBytes = run.CgroupPeakBytes
	}
	s.t.Trials = append(s.t.Trials, tr)
	if s.t.LimitBy == "" {
		s.t.LimitBy, s.t.LimitBytes = run.MemoryLimitBy, run.MemoryLimitBytes
	}
	if ok {
		s.passes[c]++
	} else {
		s.fails[c]++
	}
	s.logTrial(c, rep, ok, why, run)
	s.fit()
	if s.o.Saved != nil {
		s.o.Saved()
	}
	return ok, nil
}

func (s *search) logTrial(c, rep int, ok bool, why string, run result.Run) {
	if s.o.Logf == nil {
		return
	}
	verdict := "PASS"
	if !ok {
		verdict = "FAIL: " + why
	}
	charged := ""
	if v, what := run.CapPeak(); run.CapCountsOtherwise() {
		charged = fmt.Sprintf("; the cap counted %.1f MiB (%s)", float64(v)/(1<<20), what)
	}
	s.o.Logf("capacity %s c=%d r=%d: %s; peak %.1f MiB (%s%s), %d ok / %d requests", s.t.Target, c, rep, verdict,
		float64(run.PeakRSSBytes)/(1<<20), run.PeakRSSSource, charged, run.OK, run.Requests)
}

func (s *search) logf(format string, args ...any) {
	if s.o.Logf != nil {
		s.o.Logf("capacity %s: "+format, append([]any{s.t.Target}, args...)...)
	}
}

// run is the search: grow, bisect, confirm; a confirmation that fails
// moves the boundary down and the search goes on below it.
func (s *search) run(ctx context.Context) error {
	pass, fail := 0, 0 // highest level that passed (0: none), lowest that failed (0: none)
	// Grow: 1, 2, 4, … until a failure or the ceiling.
	for c := 1; ; c = min(2*c, s.o.Max) {
		ok, err := s.trial(ctx, c)
		if err != nil {
			return s.settle(pass, fail, err)
		}
		if !ok {
			fail = c
			break
		}
		pass = c
		if c == s.o.Max {
			break
		}
	}
	for {
		// Bisect to the exact integer.
		for fail != 0 && fail-pass > 1 {
			mid := pass + (fail-pass)/2
			ok, err := s.trial(ctx, mid)
			if err != nil {
				return s.settle(pass, fail, err)
			}
			if ok {
				pass = mid
			} else {
				fail = mid
			}
		}
		if pass == 0 {
			return s.settle(0, fail, nil) // even one client fails
		}
		// Confirm: the answer passes Repeats trials in a row.
		confirmed := true
		for s.passes[pass] < s.o.Repeats {
			ok, err := s.trial(ctx, pass)
			if err != nil {
				return s.settle(s.confirmedBelow(pass), min0(fail, pass), err)
			}
			if !ok {
				confirmed = false
				break
			}
		}
		if confirmed {
			return s.settle(pass, fail, nil)
		}
		// A failure at the answer: the boundary is lower than the search
		// said. Say so, and search again below it.
		s.t.Notes = append(s.t.Notes, fmt.Sprintf("c=%d passed during the search, then failed a confirmation trial: the boundary is lower, searched again below it", pass))
		s.logf("c=%d failed a confirmation trial after passing: searching below it", pass)
		fail, pass = pass, s.highestPassBelow(pass)
	}
}

// highestPassBelow is the highest level below c with no failure, 0 if none.
func (s *search) highestPassBelow(c int) int {
	best := 0
	for l, n := range s.passes {
		if l < c && n > 0 && s.fails[l] == 0 && l > best {
			best = l
		}
	}
	return best
}

// confirmedBelow is the highest level up to c that passed Repeats times
// and never failed: the answer of a search cut short.
func (s *search) confirmedBelow(c int) int {
	best := 0
	for l, n := range s.passes {
		if l <= c && n >= s.o.Repeats && s.fails[l] == 0 && l > best {
			best = l
		}
	}
	return best
}

func min0(a, b int) int {
	if a == 0 {
		return b
	}
	return min(a, b)
}

// settle writes the answer into t. A search cut short (err) keeps only a
// level confirmed by Repeats passes: it never reports one that did not.
func (s *search) settle(pass, fail int, err error) error {
	if errors.Is(err, ErrNotStarted) {
		return err // no answer: t.Error says why
	}
	if err != nil {
		pass = s.confirmedBelow(pass)
		s.t.Notes = append(s.t.Notes, fmt.Sprintf("the search stopped early (%v): capacity is the highest level confirmed so far", err))
	}
	s.t.Capacity, s.t.FirstFailing = pass, fail
	s.t.CeilingReached = err == nil && fail == 0
	if s.t.CeilingReached {
		s.t.Notes = append(s.t.Notes, fmt.Sprintf("every level up to --max %d passed: the capacity is at least that", s.o.Max))
	}
	s.fit()
	return err
}

// fit is the line through the passing trials' peaks as the cap counts
// them: the cost of one more client, and where it would reach the cap.
func (s *search) fit() {
	var xs, ys []float64
	for _, tr := range s.t.Trials {
		if tr.Passed {
			y := tr.PeakRSSBytes
			if tr.CapChargedBytes > 0 {
				y = tr.CapChargedBytes
			}
			xs, ys = append(xs, float64(tr.Concurrency)), append(ys, float64(y))
		}
	}
	slope, intercept, ok := stats.Fit(xs, ys)
	if !ok {
		return
	}
	s.t.PerClientBytes = slope
	if slope > 0 && s.t.LimitBytes > 0 {
		s.t.EstimateFromCurve = (float64(s.t.LimitBytes) - intercept) / slope
	}
}
