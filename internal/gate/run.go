package gate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
)

// RunOptions are `harness gate`'s inputs: which files to read and write.
type RunOptions struct {
	// Current is the results.json judged (required).
	Current string
	// Rules is a scenario with a gate: block or a rules file; default: the
	// scenario the current run names.
	Rules string
	// Baseline is the results.json compared with; default: the rules'.
	Baseline string
	// JUnit, Markdown and Benchstat, when set, receive those outputs.
	JUnit, Markdown, Benchstat string
	// UpdateBaseline writes the current results as the baseline instead
	// of judging them.
	UpdateBaseline bool
	// AllowPartial and AllowHostChange: see Options.
	AllowPartial, AllowHostChange bool
	// Stdout receives the verdict table (or the baseline note).
	Stdout io.Writer
}

// Run reads the files o names, judges the current run and writes the
// outputs. A regression is an error of kind fault.Regression; a side
// output that cannot be written is reported beside it and never hides it.
func Run(o RunOptions) error {
	if o.Current == "" {
		return fault.Errorf(fault.BadInput, "--current RESULTS.json is required")
	}
	cur, err := result.Read(o.Current)
	if err != nil {
		return err
	}
	rulesPath := o.Rules
	if rulesPath == "" {
		rulesPath = cur.Scenario.File
	}
	rules, err := scenario.LoadGate(rulesPath)
	if err != nil {
		return err
	}
	basePath := o.Baseline
	if basePath == "" {
		basePath = rules.Baseline
	}
	if o.UpdateBaseline {
		return updateBaseline(o, basePath, rulesPath, cur)
	}
	var base *result.Results
	if basePath != "" {
		if base, err = result.Read(basePath); err != nil {
			return err
		}
	}
	rep, err := Evaluate(Options{Current: cur, Baseline: base, Rules: rules, AllowPartial: o.AllowPartial, AllowHostChange: o.AllowHostChange})
	if err != nil {
		return err
	}
	if err := rep.WriteTable(o.Stdout); err != nil {
		return err
	}
	var errs []error
	for _, out := range []struct {
		path  string
		write func(*bytes.Buffer) error
	}{
		{o.JUnit, func(b *bytes.Buffer) error { return rep.WriteJUnit(b) }},
		{o.Markdown, func(b *bytes.Buffer) error { return rep.WriteMarkdown(b) }},
		{o.Benchstat, func(b *bytes.Buffer) error { return WriteBenchstat(b, cur) }},
	} {
		if out.path != "" {
			errs = append(errs, writeOutput(out.path, out.write))
		}
	}
	if n := rep.Failed(); n > 0 {
		errs = append(errs, fault.Errorf(fault.Regression, "%d of %d checks failed: a regression", n, len(rep.Checks)))
	}
	return errors.Join(errs...)
}

func writeOutput(path string, write func(*bytes.Buffer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func updateBaseline(o RunOptions, basePath, rulesPath string, cur *result.Results) error {
	if basePath == "" {
		return fault.Errorf(fault.BadInput, "--update-baseline: no baseline path (--baseline or gate.baseline in %s)", rulesPath)
	}
	if err := os.MkdirAll(filepath.Dir(basePath), 0o755); err != nil {
		return err
	}
	if err := result.Write(basePath, cur); err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "baseline updated: %s (from %s)\n", basePath, o.Current)
	return nil
}
