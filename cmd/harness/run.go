package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/gate"
	"github.com/floodharness/harness/internal/launch"
	"github.com/floodharness/harness/internal/report"
	"github.com/floodharness/harness/internal/scenario"
	"github.com/floodharness/harness/internal/sweep"
)

type runFlags struct {
	out       string
	overrides scenario.Overrides
}

func runCmd() *cli.Command {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&f.out, "out", "", "run directory (default reports/<time>-<scenario name>)")
	fs.Var((*intList)(&f.overrides.Levels), "levels", "concurrency levels to run instead of the scenario's, e.g. 1,8")
	fs.Var((*nameList)(&f.overrides.Targets), "targets", "only these targets, e.g. buffered,streamed")
	fs.IntVar(&f.overrides.Repeats, "repeats", 0, "repeats instead of the scenario's")
	return &cli.Command{
		FS:       fs,
		Usage:    "flood a scenario's targets level by level and write results.json",
		Operands: "SCENARIO.yaml",
		Run:      func(e *cli.Env, args []string) error { return runScenario(e, f, args) },
	}
}

func runScenario(e *cli.Env, f runFlags, args []string) error {
	if len(args) != 1 {
		return cli.UsageErrorf("want one scenario file, got %d arguments", len(args))
	}
	sc, err := scenario.Load(args[0])
	if err != nil {
		return err
	}
	if err := sc.Override(f.overrides); err != nil {
		return err
	}
	if err := gate.CheckRules(sc); err != nil {
		return err
	}
	dir := f.out
	if dir == "" {
		dir = sweep.DefaultDir(sc, time.Now())
	}
	logf := func(format string, args ...any) {
		e.LogLine(time.Now().Format("15:04:05 ") + fmt.Sprintf(format, args...))
	}
	var progress func(string)
	if e.IsTTY {
		progress = e.ShowProgress
	}
	logf("run %s: %d target(s) × %d level(s) × %d repeat(s) → %s", sc.Name, len(sc.Targets), len(sc.Levels), sc.Repeats, dir)
	cgroups := launch.SystemCgroups().Prepare()
	defer func() { // also on a panic: the harness moved back, its cgroups gone
		if cerr := cgroups.Close(); cerr != nil {
			logf("undo cgroup set-up: %v", cerr)
		}
	}()
	res, err := sweep.Run(e.Ctx, sweep.Options{
		Scenario: sc, Dir: dir, Cgroups: cgroups, Programs: sweep.SelfPrograms(),
		Logf: logf, Progress: progress,
	})
	e.ClearProgress()
	results := sweep.ResultsPath(dir)
	if res != nil && len(res.Runs) > 0 {
		fmt.Fprintln(e.Stdout)
		_ = report.PeakTable(e.Stdout, res)
		page, rerr := report.Write(res, dir, dir)
		if rerr != nil {
			return fmt.Errorf("render report for %s: %w", results, rerr)
		}
		fmt.Fprintf(e.Stdout, "\nreport: %s", page)
	}
	switch {
	case sweep.IsInterrupt(err):
		return fault.Errorf(fault.RunFailed, "interrupted; the %d run(s) measured so far are in %s", len(res.Runs), results)
	case err != nil:
		var fe *sweep.FailedError
		if errors.As(err, &fe) {
			fmt.Fprintf(e.Stdout, "\nresults: %s\n", results)
		}
		return err
	}
	fmt.Fprintf(e.Stdout, "\nresults: %s\n", results)
	return nil
}

// intList is a flag of comma-separated integers: --levels 1,8,32.
type intList []int

func (l *intList) String() string { return fmt.Sprint(*l) }

func (l *intList) Set(s string) error {
	*l = nil
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("%q: want integers separated by commas", s)
		}
		*l = append(*l, n)
	}
	return nil
}

// nameList is a flag of comma-separated names: --targets a,b.
type nameList []string

func (l *nameList) String() string { return strings.Join(*l, ",") }

func (l *nameList) Set(s string) error {
	*l = nil
	for _, f := range strings.Split(s, ",") {
		*l = append(*l, strings.TrimSpace(f))
	}
	return nil
}
