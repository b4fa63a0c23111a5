package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/history"
	"github.com/floodharness/harness/internal/report"
)

func historyCmd() *cli.Command {
	var out string
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	fs.StringVar(&out, "out", "", "directory under which each scenario's history.html, history.md and plots go, in <scenario>/ (default: beside each history file)")
	return &cli.Command{
		FS:       fs,
		Usage:    "plot a gate history (harness gate --history): every metric over runs, change points marked, and a summary",
		Operands: "DIR | DIR/<scenario>.jsonl",
		Run:      func(e *cli.Env, args []string) error { return renderHistory(e, out, args) },
	}
}

func renderHistory(e *cli.Env, out string, args []string) error {
	if len(args) != 1 {
		return cli.UsageErrorf("want a history directory or file, got %d arguments", len(args))
	}
	files := []string{args[0]}
	if st, err := os.Stat(args[0]); err == nil && st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(args[0], "*.jsonl"))
		if len(files) == 0 {
			return cli.UsageErrorf("%s holds no history (*.jsonl): harness gate --history %s writes one", args[0], args[0])
		}
	}
	for _, f := range files {
		entries, err := history.Read(f)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		page, err := report.WriteHistory(entries, name, filepath.Join(orDefault(out, filepath.Dir(f)), name))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%s: %d runs → %s\n", name, len(entries), page)
	}
	return nil
}

// orDefault is a, or b where a is empty.
func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
