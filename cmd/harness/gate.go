package main

import (
	"flag"

	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/gate"
)

func gateCmd() *cli.Command {
	var o gate.RunOptions
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	fs.StringVar(&o.Current, "current", "", "results.json of the run to judge (required)")
	fs.StringVar(&o.Baseline, "baseline", "", "results.json to compare with (default: the rules' baseline)")
	fs.StringVar(&o.Rules, "rules", "", "scenario (its gate: block) or rules file (default: the current run's scenario)")
	fs.StringVar(&o.JUnit, "junit", "", "write JUnit XML here")
	fs.StringVar(&o.Markdown, "markdown", "", "write the verdicts as Markdown here")
	fs.StringVar(&o.Benchstat, "benchstat", "", "write the current runs as benchstat lines here")
	fs.StringVar(&o.BMF, "bmf", "", "write the current runs in the Bencher Metric Format (JSON) here")
	fs.BoolVar(&o.AllowPartial, "allow-partial", false, "judge the results of an interrupted run (they fail otherwise)")
	fs.BoolVar(&o.AllowHostChange, "allow-host-change", false, "compare runs measured differently from the baseline (another peak source or cap mechanism)")
	fs.BoolVar(&o.UpdateBaseline, "update-baseline", false, "write the current results as the new baseline instead of gating")
	fs.BoolVar(&o.Force, "force", false, "with --update-baseline: replace a baseline made from another scenario")
	fs.StringVar(&o.History, "history", "", "append the judged run to DIR/<scenario>.jsonl (medians per target × level × metric, commit, time, host)")
	fs.StringVar(&o.Commit, "commit", "", "with --history: the commit the run is recorded under (default $GITHUB_SHA, else git rev-parse HEAD where the scenario lives)")
	return &cli.Command{
		FS:    fs,
		Usage: "judge a run against rules and a baseline (exit 1 on a regression)",
		Run: func(e *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.UsageErrorf("unexpected arguments %q", args)
			}
			o.Stdout, o.Getenv = e.Stdout, e.LookupEnv
			return gate.Run(o)
		},
	}
}
