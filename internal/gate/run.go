package gate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/history"
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
	// JUnit, Markdown, Benchstat and BMF (the Bencher Metric Format), when
	// set, receive those outputs.
	JUnit, Markdown, Benchstat, BMF string
	// UpdateBaseline writes the current results as the baseline instead
	// of judging them. It refuses to replace a baseline made from another
	// scenario (another name and another file) unless Force is set.
	UpdateBaseline, Force bool
	// AllowPartial and AllowHostChange: see Options.
	AllowPartial, AllowHostChange bool
	// History, when set, is the directory the judged run is appended to
	// (DIR/<scenario>.jsonl), with Commit (default: $GITHUB_SHA, else
	// git rev-parse HEAD where the scenario lives).
	History, Commit string
	// Getenv reads the environment (os.LookupEnv when nil).
	Getenv func(string) (string, bool)
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
	if result.SchemaOf(o.Current) == result.CapacitySchema {
		return runCapacity(o)
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
	histPath := ""
	if o.History == "" {
		o.History = rules.History // the scenario's gate: {history: DIR}
	}
	if o.History != "" {
		if histPath, err = history.Append(o.History, history.Of(cur, o.commit(rulesPath))); err != nil {
			return fmt.Errorf("--history: %w", err)
		}
		fmt.Fprintf(o.Stdout, "history: %s\n", histPath)
	}
	if o.UpdateBaseline {
		return updateBaseline(o, basePath, rulesPath, cur)
	}
	var base *result.Results
	if basePath != "" {
		if base, err = result.Read(basePath); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w\nno baseline yet: make this run the baseline with\n  harness gate --current %s --rules %s --update-baseline", err, o.Current, rulesPath)
		} else if err != nil {
			return err
		}
	}
	rep, err := Evaluate(Options{Current: cur, Baseline: base, Rules: rules,
		CurrentDir: filepath.Dir(o.Current), BaselineDir: filepath.Dir(basePath),
		AllowPartial: o.AllowPartial, AllowHostChange: o.AllowHostChange})
	if err != nil {
		return err
	}
	if histPath != "" {
		if err := judgeHistory(rep, histPath); err != nil {
			return err
		}
	}
	return emit(o, rep, func(b *bytes.Buffer) error { return WriteBenchstat(b, cur) }, func(b *bytes.Buffer) error { return WriteBMF(b, cur) })
}

// judgeHistory adds to rep a failing check for every series of the
// history whose newest runs sit after a significant change for the worse
// (E-divisive means, as Otava finds them), beside the rules' checks.
func judgeHistory(rep *Report, path string) error {
	entries, err := history.Read(path)
	if err != nil {
		return err
	}
	changes, notes := history.Regressions(entries, history.Defaults)
	rep.Notes = append(rep.Notes, notes...)
	for _, c := range changes {
		rep.Checks = append(rep.Checks, Check{Rule: "history: no change point for the worse", Metric: c.Metric.Name, Unit: c.Metric.Unit,
			Target: c.Target, Level: c.Level, Baseline: c.MeanL, HasBaseline: true, Current: c.MeanR, HasCurrent: true, Note: c.String()})
	}
	return nil
}

// emit prints rep's table, writes the side outputs o names (benchstat and
// BMF by the given writers; nil: that output does not apply), and returns
// a regression as an error of kind fault.Regression; a side output that
// cannot be written is reported beside it and never hides it.
func emit(o RunOptions, rep *Report, benchstat, bmf func(*bytes.Buffer) error) error {
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
		{o.Benchstat, benchstat},
		{o.BMF, bmf},
	} {
		if out.path != "" && out.write != nil {
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
	old, err := result.Read(basePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		old = nil
	case err != nil && !o.Force:
		return fault.Errorf(fault.BadInput, "--update-baseline: %s is there but cannot be read (%v); it is kept: --force replaces it", basePath, err)
	case err != nil:
		old = nil
	case !o.Force && old.Scenario.Name != cur.Scenario.Name && filepath.Clean(old.Scenario.File) != filepath.Clean(cur.Scenario.File):
		return fault.Errorf(fault.BadInput, "--update-baseline: %s is the baseline of another scenario (%q from %s), not of this run's (%q from %s); it is kept with its profiles.\n"+
			"Give this run its own baseline (--baseline PATH, or gate.baseline in %s), or replace that one with --force",
			basePath, old.Scenario.Name, old.Scenario.File, cur.Scenario.Name, cur.Scenario.File, rulesPath)
	}
	if err := os.MkdirAll(filepath.Dir(basePath), 0o755); err != nil {
		return err
	}
	from, to := filepath.Dir(o.Current), filepath.Dir(basePath)
	removed := 0
	if old != nil && filepath.Clean(from) != filepath.Clean(to) {
		removed = removeProfiles(old, to)
	}
	if err := result.Write(basePath, cur); err != nil {
		return err
	}
	n, err := copyProfiles(cur, from, to)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "baseline updated: %s and %s beside it (from %s)", basePath, plural(n, "heap profile"), o.Current)
	if old != nil {
		fmt.Fprintf(o.Stdout, "; it replaced the baseline of %q made %s, and its %s", old.Scenario.Name, old.StartedAt.Format("2006-01-02 15:04"), plural(removed, "profile"))
	}
	fmt.Fprintln(o.Stdout)
	return nil
}

// plural is "1 heap profile" or "3 heap profiles".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// profilePath is where a run's heap profile lies under dir, or "" when
// the results name none or a path outside dir.
func profilePath(run result.Run, dir string) string {
	if run.HeapProfile == "" || filepath.IsAbs(run.HeapProfile) || strings.HasPrefix(filepath.Clean(run.HeapProfile), "..") {
		return ""
	}
	return filepath.Join(dir, run.HeapProfile)
}

// removeProfiles removes the heap profiles a replaced baseline named, and
// nothing else under its directory.
func removeProfiles(old *result.Results, dir string) int {
	n := 0
	for _, run := range old.Runs {
		if p := profilePath(run, dir); p != "" && os.Remove(p) == nil {
			n++
		}
	}
	return n
}

// copyProfiles puts the heap profiles the runs name beside the new
// baseline, under the same relative paths, so later gates can diff
// against them.
func copyProfiles(r *result.Results, from, to string) (int, error) {
	if filepath.Clean(from) == filepath.Clean(to) {
		return 0, nil // the baseline is the current run's own file: its profiles are there
	}
	n := 0
	for _, run := range r.Runs {
		src := profilePath(run, from)
		if src == "" {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			continue // a profile that is gone cannot be diffed later; the gate says so then
		}
		dst := profilePath(run, to)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return n, err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// commit is the commit the judged run is recorded under: --commit, else
// $GITHUB_SHA, else git rev-parse HEAD in the scenario's directory ("" when
// none says).
func (o RunOptions) commit(scenarioFile string) string {
	if o.Commit != "" {
		return o.Commit
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	if sha, ok := getenv("GITHUB_SHA"); ok && sha != "" {
		return sha
	}
	cmd := exec.Command("git", "rev-parse", "HEAD")
	cmd.Dir = filepath.Dir(scenarioFile)
	if out, err := cmd.Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return ""
}
