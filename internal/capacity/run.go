package capacity

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
	"github.com/floodharness/harness/internal/sweep"
)

// RunOptions are `harness capacity`'s inputs.
type RunOptions struct {
	// Sweep is how trials run (the scenario, run directory, cgroups,
	// programs, log); its scenario's levels are not used.
	Sweep sweep.Options
	// Max, Repeats: see Options. Budget bounds the whole search (0: none).
	Max, Repeats int
	Budget       time.Duration
	// Bounds: see Options.
	Bounds Bounds
}

// Path is where a capacity search in dir writes its answer.
func Path(dir string) string { return filepath.Join(dir, "capacity.json") }

// Check refuses what cannot give an answer, before anything starts.
func Check(sc *scenario.Scenario, o RunOptions) error {
	switch {
	case sc.Memory.Limit <= 0:
		return fault.Errorf(fault.BadInput, "%s: capacity is the concurrency that fits under memory.limit, and the scenario sets none: set memory.limit (e.g. 512MiB)", sc.File)
	case o.Max < 1:
		return fault.Errorf(fault.BadInput, "--max %d: want at least 1", o.Max)
	case o.Repeats < 1:
		return fault.Errorf(fault.BadInput, "--repeats %d: want at least 1", o.Repeats)
	case o.Bounds.P99 < 0:
		return fault.Errorf(fault.BadInput, "--p99 %v: want a positive latency bound (e.g. 2s)", o.Bounds.P99)
	case o.Budget < 0 || o.Budget > 0 && o.Budget < trialTime(sc):
		return fault.Errorf(fault.BadInput, "--budget %v: want 0 (none) or at least one trial's %v", o.Budget, trialTime(sc))
	}
	if err := sweep.Fits(sc, o.Max); err != nil {
		return fault.Errorf(fault.BadInput, "--max %d: %v", o.Max, err)
	}
	return nil
}

// trialTime is the least one trial takes: warmup, duration and grace.
func trialTime(sc *scenario.Scenario) time.Duration { return sc.Warmup + sc.Duration + sc.Grace }

// Run searches every target's capacity and writes capacity.json after
// every trial; an interrupted or out-of-budget search keeps its trials
// with partial: true. The scenario and options are Check's to refuse,
// before the caller makes cgroups for the trials.
func Run(ctx context.Context, o RunOptions) (*result.Capacity, error) {
	sc := o.Sweep.Scenario
	if err := sweep.Prepare(o.Sweep); err != nil {
		return nil, err
	}
	f := &result.Capacity{Schema: result.CapacitySchema, Scenario: result.Scenario{Name: sc.Name, File: sc.File, SHA256: sc.SHA256},
		Host: sweep.Host(o.Sweep), StartedAt: time.Now().UTC(), Partial: true, Max: o.Max, Repeats: o.Repeats, Targets: []result.CapacityTarget{},
		P99BoundMs: float64(o.Bounds.P99) / float64(time.Millisecond), AllowShed: o.Bounds.AllowShed}
	path := Path(o.Sweep.Dir)
	save := func() error { return result.WriteCapacity(path, f) }
	if err := save(); err != nil {
		return nil, err
	}
	var deadline time.Time
	if o.Budget > 0 {
		deadline = time.Now().Add(o.Budget)
	}
	var stopped error
	var unstarted []string
	for _, tg := range sc.Targets {
		f.Targets = append(f.Targets, result.CapacityTarget{Target: tg.Name, LimitBytes: int64(sc.Memory.Limit), Trials: []result.CapacityTrial{}})
		t := &f.Targets[len(f.Targets)-1]
		trial := trialFunc(o.Sweep, tg)
		err := Search(ctx, Options{Max: o.Max, Repeats: o.Repeats, Bounds: o.Bounds, Trial: trial, Deadline: deadline,
			Logf: o.Sweep.Logf, Saved: func() { _ = save() }}, t)
		if errors.Is(err, ErrNotStarted) {
			unstarted = append(unstarted, tg.Name)
			continue // the other targets still have answers
		}
		if err != nil {
			stopped = err
			break
		}
	}
	if stopped == nil {
		now := time.Now().UTC()
		f.FinishedAt, f.Partial = &now, false
	}
	if err := save(); err != nil {
		return f, err
	}
	if stopped != nil {
		return f, fault.Errorf(fault.RunFailed, "capacity search stopped (%v); the trials so far are in %s (partial)", stopped, path)
	}
	if len(unstarted) > 0 {
		return f, fault.Errorf(fault.RunFailed, "no capacity for %s: the target did not start (its log is in %s)", strings.Join(unstarted, ", "), filepath.Join(o.Sweep.Dir, "logs"))
	}
	return f, nil
}

// trialFunc runs one trial of tg, long enough for every client to finish
// at least one whole response: the scenario's duration, or twice the
// longest response seen so far where that is longer.
func trialFunc(so sweep.Options, tg scenario.Target) func(context.Context, int, int) (result.Run, error) {
	base := *so.Scenario
	longest := time.Duration(0)
	return func(ctx context.Context, c, rep int) (result.Run, error) {
		sc := base
		sc.Duration = max(base.Duration, 2*longest)
		o := so
		o.Scenario = &sc
		run, err := sweep.Trial(ctx, o, tg, c, rep)
		longest = max(longest, time.Duration(run.LatencyMs.Max*float64(time.Millisecond)))
		return run, err
	}
}
