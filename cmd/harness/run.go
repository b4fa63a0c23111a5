package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/launch"
	"github.com/floodharness/harness/internal/report"
	"github.com/floodharness/harness/internal/scenario"
	"github.com/floodharness/harness/internal/sweep"
)

type runOpts struct {
	out     string
	levels  string
	targets string
	repeats int
}

func runCmd(_ *env) *command {
	var o runOpts
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "", "run directory (default reports/<time>-<scenario name>)")
	fs.StringVar(&o.levels, "levels", "", "concurrency levels to run instead of the scenario's, e.g. 1,8")
	fs.StringVar(&o.targets, "targets", "", "only these targets, e.g. buffered,streamed")
	fs.IntVar(&o.repeats, "repeats", 0, "repeats instead of the scenario's")
	return &command{
		fs:    fs,
		usage: "flood a scenario's targets level by level and write results.json",
		fn:    func(e *env, args []string) error { return runScenario(e, o, args) },
	}
}

func runScenario(e *env, o runOpts, args []string) error {
	if len(args) != 1 {
		return usageErrorf("want one scenario file, got %d arguments", len(args))
	}
	sc, err := scenario.Load(args[0])
	if err != nil {
		return err
	}
	if err := applyOverrides(sc, o); err != nil {
		return err
	}
	dir := o.out
	if dir == "" {
		dir = filepath.Join("reports", time.Now().Format("20060102-150405")+"-"+sc.Name)
	}
	logf := func(format string, args ...any) {
		e.logLine(time.Now().Format("15:04:05 ") + fmt.Sprintf(format, args...))
	}
	var progress func(string)
	if e.isTTY {
		progress = e.showProgress
	}
	logf("run %s: %d target(s) × %d level(s) × %d repeat(s) → %s", sc.Name, len(sc.Targets), len(sc.Levels), sc.Repeats, dir)
	res, err := sweep.Run(e.ctx, sweep.Options{
		Scenario: sc, Dir: dir, Cgroups: launch.SystemCgroups(), Logf: logf, Progress: progress,
	})
	e.clearProgress()
	results := sweep.ResultsPath(dir)
	if res != nil && len(res.Runs) > 0 {
		fmt.Fprintln(e.stdout)
		_ = report.PeakTable(e.stdout, res)
		page, rerr := report.Write(res, dir, dir)
		if rerr != nil {
			return fmt.Errorf("render report for %s: %w", results, rerr)
		}
		fmt.Fprintf(e.stdout, "\nreport: %s", page)
	}
	switch {
	case sweep.IsInterrupt(err):
		return &codeError{exitRunFailed, fmt.Errorf("interrupted; the %d run(s) measured so far are in %s", len(res.Runs), results)}
	case err != nil:
		var fe *sweep.FailedError
		if errors.As(err, &fe) {
			fmt.Fprintf(e.stdout, "\nresults: %s\n", results)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "\nresults: %s\n", results)
	return nil
}

// applyOverrides narrows or changes the scenario from the command line.
func applyOverrides(sc *scenario.Scenario, o runOpts) error {
	if o.levels != "" {
		var levels []int
		for _, f := range strings.Split(o.levels, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 10000 {
				return usageErrorf("--levels %q: want positive integers separated by commas", o.levels)
			}
			levels = append(levels, n)
		}
		sc.Levels = levels
	}
	if o.targets != "" {
		var keep []scenario.Target
		for _, name := range strings.Split(o.targets, ",") {
			t, ok := sc.Target(strings.TrimSpace(name))
			if !ok {
				names := make([]string, 0, len(sc.Targets))
				for _, t := range sc.Targets {
					names = append(names, t.Name)
				}
				return usageErrorf("--targets: %s has no target %q (it has %s)", sc.File, name, strings.Join(names, ", "))
			}
			if !slices.ContainsFunc(keep, func(k scenario.Target) bool { return k.Name == t.Name }) {
				keep = append(keep, t)
			}
		}
		sc.Targets = keep
	}
	if o.repeats < 0 || o.repeats > 100 {
		return usageErrorf("--repeats %d: want 1..100", o.repeats)
	}
	if o.repeats > 0 {
		sc.Repeats = o.repeats
	}
	return nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
