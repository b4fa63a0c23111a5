package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/floodharness/harness/internal/capacity"
	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/report"
	"github.com/floodharness/harness/internal/scenario"
	"github.com/floodharness/harness/internal/sweep"
)

func capacityCmd() *cli.Command {
	var out string
	var targets nameList
	o := capacity.RunOptions{Max: 1024, Repeats: 3, Budget: 15 * time.Minute}
	fs := flag.NewFlagSet("capacity", flag.ContinueOnError)
	fs.Var(&targets, "targets", "only these targets, e.g. buffered,streamed")
	fs.IntVar(&o.Max, "max", o.Max, "the highest concurrency tried")
	fs.IntVar(&o.Repeats, "repeats", o.Repeats, "passing trials in a row the answer needs")
	fs.DurationVar(&o.Budget, "budget", o.Budget, "the longest the whole search may take (0: no bound)")
	fs.DurationVar(&o.Bounds.P99, "p99", 0, "a passing trial's highest p99 latency of ok responses, e.g. 2s (0: no bound)")
	fs.BoolVar(&o.Bounds.AllowShed, "allow-shed", false, "count 503s with Retry-After as served by design (an admission gate's reject mode)")
	fs.StringVar(&out, "out", "", "run directory (default reports/<time>-<scenario name>-capacity)")
	return &cli.Command{
		FS:       fs,
		Usage:    "find how many concurrent clients each target serves completely under memory.limit, and write capacity.json",
		Operands: "SCENARIO.yaml",
		Run: func(e *cli.Env, args []string) error {
			if len(args) != 1 {
				return cli.UsageErrorf("want one scenario file, got %d arguments", len(args))
			}
			sc, _, err := scenario.Load(args[0], scenario.Flags{Targets: targets})
			if err != nil {
				return err
			}
			if err := sc.Resolve(e.LookupEnv); err != nil {
				return err
			}
			if out == "" {
				out = sweep.DefaultDir(sc.Name+"-capacity", time.Now())
			}
			logf := func(format string, args ...any) {
				e.LogLine(sc.Redact(time.Now().Format("15:04:05 ") + fmt.Sprintf(format, args...)))
			}
			o.Sweep = sweep.Options{Scenario: sc, Dir: out, Programs: sweep.SelfPrograms(), Logf: logf, Outcome: sayOutcome(logf)}
			if err := capacity.Check(sc, o); err != nil {
				return err
			}
			cgroups := cgroup.System().Prepare()
			defer func() {
				if cerr := cgroups.Close(); cerr != nil {
					logf("undo cgroup set-up: %v", cerr)
				}
			}()
			o.Sweep.Cgroups = cgroups
			f, err := capacity.Run(e.Ctx, o)
			if f != nil && len(f.Targets) > 0 {
				fmt.Fprintln(e.Stdout)
				_ = report.CapacityTable(e.Stdout, f)
				if page, rerr := report.WriteCapacity(f, out); rerr == nil {
					fmt.Fprintf(e.Stdout, "\nreport: %s", page)
				} else {
					logf("render the capacity report: %v", rerr)
				}
				fmt.Fprintf(e.Stdout, "\ncapacity: %s\n", capacity.Path(out))
			}
			return err
		},
	}
}
