package main

import (
	"flag"
	"fmt"
	"path/filepath"

	"github.com/floodharness/harness/internal/report"
	"github.com/floodharness/harness/internal/result"
)

type reportOpts struct{ out string }

func reportCmd(_ *env) *command {
	var o reportOpts
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "", "directory for report.html, summary.md and plots (default: beside the results)")
	return &command{
		fs:    fs,
		usage: "render plots, report.html and summary.md from a results.json",
		fn:    func(e *env, args []string) error { return renderReport(e, o, args) },
	}
}

func renderReport(e *env, o reportOpts, args []string) error {
	if len(args) != 1 {
		return usageErrorf("want one results.json, got %d arguments", len(args))
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
	page, err := report.Write(r, dir, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "report: %s\n", page)
	return nil
}
