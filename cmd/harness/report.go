package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/compare"
	"github.com/floodharness/harness/internal/heapprof"
	"github.com/floodharness/harness/internal/report"
	"github.com/floodharness/harness/internal/result"
)

type reportOpts struct{ out, baseline string }

func reportCmd() *cli.Command {
	var o reportOpts
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "", "directory for report.html, summary.md and plots (default: beside the results)")
	fs.StringVar(&o.baseline, "baseline", "", "results.json to diff heap profiles against: what grew, function by function")
	return &cli.Command{
		FS:       fs,
		Usage:    "render plots, report.html and summary.md from a results.json",
		Operands: "RESULTS.json",
		Run:      func(e *cli.Env, args []string) error { return renderReport(e, o, args) },
	}
}

func renderReport(e *cli.Env, o reportOpts, args []string) error {
	if len(args) != 1 {
		return cli.UsageErrorf("want one results.json, got %d arguments", len(args))
	}
	r, err := result.Read(args[0])
	if err != nil {
		return err
	}
	dir := filepath.Dir(args[0])
	out := o.out
	if out == "" {
		out = dir
	}
	var diffs []heapprof.RunDiff
	var base *result.Results
	if o.baseline != "" {
		if base, err = result.Read(o.baseline); err != nil {
			return err
		}
		diffs = heapprof.RunDiffs(r, base, dir, filepath.Dir(o.baseline))
	}
	page, err := report.WriteCompared(r, dir, out, diffs)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "report: %s\n", page)
	if base != nil {
		// The same side-by-side table as harness compare, beside the report.
		c := compare.Of(base, r)
		for _, f := range []struct {
			name  string
			write func(io.Writer, *compare.Comparison) error
		}{{"compare.md", report.CompareMarkdown}, {"compare.html", report.CompareHTML}} {
			path := filepath.Join(out, f.name)
			if err := writeFileWith(path, func(w io.Writer) error { return f.write(w, c) }); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
		}
		fmt.Fprintf(e.Stdout, "against the baseline: %s\n", filepath.Join(out, "compare.html"))
	}
	return nil
}
