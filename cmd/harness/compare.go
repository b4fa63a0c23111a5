package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/compare"
	"github.com/floodharness/harness/internal/report"
	"github.com/floodharness/harness/internal/result"
)

type compareOpts struct{ markdown, html string }

func compareCmd() *cli.Command {
	var o compareOpts
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.StringVar(&o.markdown, "markdown", "", "also write the comparison as Markdown to this file (a CI step summary)")
	fs.StringVar(&o.html, "html", "", "also write the comparison as an HTML page to this file")
	return &cli.Command{
		FS:       fs,
		Usage:    "set two runs side by side: every target × level × metric, the change and its significance",
		Operands: "A/results.json B/results.json",
		Run:      func(e *cli.Env, args []string) error { return runCompare(e, o, args) },
	}
}

func runCompare(e *cli.Env, o compareOpts, args []string) error {
	if len(args) != 2 {
		return cli.UsageErrorf("want two results.json (A, then B), got %d arguments", len(args))
	}
	var runs [2]*result.Results
	for i, p := range args {
		r, err := result.Read(p)
		if err != nil {
			return err
		}
		runs[i] = r
	}
	c := compare.Of(runs[0], runs[1])
	if err := report.CompareText(e.Stdout, c); err != nil {
		return err
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer, *compare.Comparison) error
	}{{o.markdown, report.CompareMarkdown}, {o.html, report.CompareHTML}} {
		if out.path == "" {
			continue
		}
		if err := writeFileWith(out.path, func(w io.Writer) error { return out.write(w, c) }); err != nil {
			return fmt.Errorf("write %s: %w", out.path, err)
		}
	}
	return nil
}

// writeFileWith writes a file through write, atomically (a temporary
// file renamed over it).
func writeFileWith(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
