package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/floodharness/harness/internal/gate"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
)

type gateOpts struct {
	current, baseline, rules   string
	junit, markdown, benchstat string
	updateBaseline             bool
}

func gateCmd(_ *env) *command {
	var o gateOpts
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	fs.StringVar(&o.current, "current", "", "results.json of the run to judge (required)")
	fs.StringVar(&o.baseline, "baseline", "", "results.json to compare with (default: the rules' baseline)")
	fs.StringVar(&o.rules, "rules", "", "scenario (its gate: block) or rules file (default: the current run's scenario)")
	fs.StringVar(&o.junit, "junit", "", "write JUnit XML here")
	fs.StringVar(&o.markdown, "markdown", "", "write the verdicts as Markdown here")
	fs.StringVar(&o.benchstat, "benchstat", "", "write the current runs as benchstat lines here")
	fs.BoolVar(&o.updateBaseline, "update-baseline", false, "write the current results as the new baseline instead of gating")
	return &command{
		fs:    fs,
		usage: "judge a run against rules and a baseline (exit 1 on a regression)",
		fn:    func(e *env, args []string) error { return runGate(e, o, args) },
	}
}

func runGate(e *env, o gateOpts, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unexpected arguments %q", args)
	}
	if o.current == "" {
		return usageErrorf("--current RESULTS.json is required")
	}
	cur, err := result.Read(o.current)
	if err != nil {
		return err
	}
	rulesPath := o.rules
	if rulesPath == "" {
		rulesPath = cur.Scenario.File
	}
	rules, err := scenario.LoadGate(rulesPath)
	if err != nil {
		return err
	}
	basePath := o.baseline
	if basePath == "" {
		basePath = rules.Baseline
	}
	if o.updateBaseline {
		if basePath == "" {
			return usageErrorf("--update-baseline: no baseline path (--baseline or gate.baseline in %s)", rulesPath)
		}
		if err := os.MkdirAll(filepath.Dir(basePath), 0o755); err != nil {
			return err
		}
		if err := result.Write(basePath, cur); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "baseline updated: %s (from %s)\n", basePath, o.current)
		return nil
	}
	var base *result.Results
	if basePath != "" {
		if base, err = result.Read(basePath); err != nil {
			return err
		}
	}
	rep, err := gate.Evaluate(gate.Options{Current: cur, Baseline: base, Rules: rules})
	if err != nil {
		return err
	}
	if err := rep.WriteTable(e.stdout); err != nil {
		return err
	}
	for _, out := range []struct {
		path  string
		write func(*bytes.Buffer) error
	}{
		{o.junit, func(b *bytes.Buffer) error { return rep.WriteJUnit(b) }},
		{o.markdown, func(b *bytes.Buffer) error { return rep.WriteMarkdown(b) }},
		{o.benchstat, func(b *bytes.Buffer) error { return gate.WriteBenchstat(b, cur) }},
	} {
		if out.path == "" {
			continue
		}
		var b bytes.Buffer
		if err := out.write(&b); err != nil {
			return err
		}
		if err := os.WriteFile(out.path, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", out.path, err)
		}
	}
	if n := rep.Failed(); n > 0 {
		return &codeError{exitRegression, fmt.Errorf("%d of %d checks failed: a regression", n, len(rep.Checks))}
	}
	return nil
}
