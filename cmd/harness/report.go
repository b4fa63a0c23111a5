package main

import (
	"flag"
	"fmt"
	"path/filepath"

	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/report"
	"github.com/floodharness/harness/internal/result"
)

type reportOpts struct{ out string }

func reportCmd() *cli.Command {
	var o reportOpts
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "", "directory for report.html, summary.md and plots (default: beside the results)")
	return &cli.Command{
		FS:    fs,
		Usage: "render plots, report.html and summary.md from a results.json",
		Run:   func(e *cli.Env, args []string) error { return renderReport(e, o, args) },
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
	page, err := report.Write(r, dir, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "report: %s\n", page)
	return nil
}
