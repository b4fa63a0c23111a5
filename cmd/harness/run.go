package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/gate"
	"github.com/floodharness/harness/internal/proc"
	"github.com/floodharness/harness/internal/report"
	"github.com/floodharness/harness/internal/request"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
	"github.com/floodharness/harness/internal/sweep"
	"github.com/floodharness/harness/internal/units"
)

type runFlags struct {
	out     string
	cmds    stringList
	name    string
	flags   scenario.Flags
	request request.Flags
}

func runCmd() *cli.Command {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&f.out, "out", "", "run directory (default reports/<time>-<scenario name>)")
	fs.Var(&f.cmds, "cmd", "without a scenario file: a server to flood, [name=]COMMAND with {port} in it (repeat for several)")
	fs.StringVar(&f.name, "name", "", "with --cmd: the run's name (default: a single --cmd's name=, else my-server)")
	fs.Var((*intList)(&f.flags.Levels), "levels", "concurrency levels, e.g. 1,8,32")
	fs.Var((*nameList)(&f.flags.Targets), "targets", "only these targets, e.g. buffered,streamed")
	fs.IntVar(&f.flags.Repeats, "repeats", 0, "repeats of every level")
	fs.StringVar(&f.flags.Path, "path", "", "what clients download, e.g. /export")
	fs.StringVar(&f.flags.Health, "health", "", "the path that answers a 2xx once a server is up, e.g. /health")
	fs.Var(durationFlag{&f.flags}, "duration", "how long each level floods, e.g. 30s, or auto: 10s, then until every client has one whole answer (at most 5m more)")
	fs.Var(sizeFlag{&f.flags.Limit}, "limit", "each server's memory cap, e.g. 512MiB (0: none)")
	fs.Var(sizeFlag{&f.flags.ReadRate}, "read-rate", "bytes per second each client reads, e.g. 2MiB (0: as fast as it can)")
	fs.Var(sizeFlag{&f.flags.RecvBuffer}, "recv-buffer", "each connection's receive buffer, e.g. 64KiB (0: the kernel's)")
	fs.Var(sizeFlag{&f.flags.WriteRate}, "write-rate", "bytes per second each client sends a request body, e.g. 1MiB (slow uploaders; 0: as fast as it can)")
	fs.Var(sizeFlag{&f.flags.SendBuffer}, "send-buffer", "each connection's send buffer, e.g. 64KiB (0: the kernel's)")
	fs.StringVar(&f.flags.Soak, "soak", "", "one long level per target with its memory trend judged: CLIENTSxDURATION, e.g. 16x30m")
	fs.StringVar(&f.flags.HTTP, "http", "", "the client's protocol: 1.1, 2 (HTTP/2 over TLS) or h2c (cleartext HTTP/2)")
	fs.Var((*checkFlag)(&f.flags.Validate), "validate", "check bodies while they stream: none, json, ndjson, csv or upload")
	fs.StringVar(&f.flags.Rows, "rows", "", "validate json: the path of the array whose elements are the rows, e.g. data or results.0.series.0.values")
	f.request.Register(fs)
	fs.IntVar(&f.flags.K6Instances, "k6-instances", 0, "driver k6: split each level over this many local k6 processes, merged exactly")
	return &cli.Command{
		FS:       fs,
		Usage:    "flood a scenario's targets level by level (or --cmd servers without one) and write results.json",
		Operands: "SCENARIO.yaml | --cmd 'COMMAND {port}'",
		Run: func(e *cli.Env, args []string) error {
			withRequest(&f.flags, f.request)
			return runScenario(e, f, args)
		},
	}
}

// withRequest lays the request flags into the scenario's flags.
func withRequest(f *scenario.Flags, r request.Flags) {
	f.Method, f.Headers, f.Body, f.BodyFile, f.ContentType = r.Method, r.Headers, r.Body, r.BodyFile, r.ContentType
	if r.BodySizeSet {
		f.BodySize = &r.BodySize
	}
	f.Compressed = r.Compressed
}

// durationFlag is --duration: a duration, or auto.
type durationFlag struct{ f *scenario.Flags }

func (d durationFlag) String() string {
	if d.f != nil && d.f.DurationAuto {
		return "auto"
	}
	if d.f == nil || d.f.Duration == 0 {
		return ""
	}
	return d.f.Duration.String()
}

func (d durationFlag) Set(v string) error {
	if v == "auto" {
		d.f.Duration, d.f.DurationAuto = 0, true
		return nil
	}
	t, err := time.ParseDuration(v)
	if err != nil || t <= 0 {
		return fmt.Errorf("%q: want a duration such as 30s, or auto", v)
	}
	d.f.Duration, d.f.DurationAuto = t, false
	return nil
}

// checkFlag is --validate: a body check, as a file writes it.
type checkFlag result.BodyCheck

func (c *checkFlag) String() string     { return string(*c) }
func (c *checkFlag) Set(v string) error { *c = checkFlag(v); return nil }

// sizeFlag is a size flag that is nil until given (0 is a size).
type sizeFlag struct{ p **units.Bytes }

func (s sizeFlag) String() string {
	if s.p == nil || *s.p == nil {
		return "0"
	}
	return (*s.p).String()
}

func (s sizeFlag) Set(v string) error {
	b := new(units.Bytes)
	if err := b.UnmarshalText([]byte(v)); err != nil {
		return err
	}
	*s.p = b
	return nil
}

// load is the scenario to run: a file with the command line's flags over
// it, or one made from --cmd and written into the run directory, so the
// run can be repeated and committed. The notes say what a flag replaced.
func load(f runFlags, args []string) (*scenario.Scenario, string, []string, error) {
	switch {
	case len(args) == 1 && len(f.cmds) == 0:
		sc, notes, err := scenario.Load(args[0], f.flags)
		if err != nil {
			return nil, "", nil, err
		}
		dir := f.out
		if dir == "" {
			dir = sweep.DefaultDir(sc.Name, time.Now())
		}
		return sc, dir, notes, nil
	case len(args) == 0 && len(f.cmds) > 0:
		if len(f.flags.Targets) > 0 || f.flags.Repeats != 0 {
			return nil, "", nil, cli.UsageErrorf("--targets and --repeats are for scenario files")
		}
		q := scenario.Quick{Name: f.name, Cmds: f.cmds}
		dir := f.out
		if dir == "" {
			dir = sweep.DefaultDir(q.RunName(), time.Now())
		}
		file := filepath.Join(dir, "scenario.yaml")
		sc, _, err := q.Scenario(file, f.flags)
		if err != nil {
			return nil, "", nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, "", nil, err
		}
		return sc, dir, nil, os.WriteFile(file, sc.YAML(), 0o644)
	}
	return nil, "", nil, cli.UsageErrorf("want one scenario file, or --cmd 'COMMAND {port}' and no file (got %d file arguments, %d --cmd)", len(args), len(f.cmds))
}

func runScenario(e *cli.Env, f runFlags, args []string) error {
	sc, dir, notes, err := load(f, args)
	if err != nil {
		return err
	}
	ruleNotes, err := gate.CheckRules(sc)
	if err != nil {
		return err
	}
	if err := sc.Resolve(e.LookupEnv); err != nil {
		return err
	}
	if len(args) == 1 { // only once nothing more can refuse the run
		if err := keepScenario(sc, dir, e.Args); err != nil {
			return err
		}
	}
	logf := func(format string, args ...any) { // never a secret on the console
		e.LogLine(sc.Redact(time.Now().Format("15:04:05 ") + fmt.Sprintf(format, args...)))
	}
	var progress func(string)
	if e.IsTTY {
		progress = e.ShowProgress
	}
	logf("run %s: %s × %s × %s → %s", sc.Name, plural(len(sc.Targets), "target"), plural(len(sc.Levels), "level"), plural(sc.Repeats, "repeat"), dir)
	for _, n := range append(notes, ruleNotes...) {
		logf("%s", n)
	}
	cgroups := cgroup.System().Prepare()
	defer func() { // also on a panic: the harness moved back, its cgroups gone
		if cerr := cgroups.Close(); cerr != nil {
			logf("undo cgroup set-up: %v", cerr)
		}
	}()
	var flags []string
	if len(args) == 1 {
		flags = laidOver(e.Args, args[0])
	}
	res, err := sweep.Run(e.Ctx, sweep.Options{
		Scenario: sc, Dir: dir, Cgroups: cgroups, Programs: sweep.SelfPrograms(), Flags: flags,
		Logf: logf, Progress: progress, Outcome: sayOutcome(logf),
	})
	e.ClearProgress()
	results := sweep.ResultsPath(dir)
	if res != nil && len(res.Runs) > 0 {
		fmt.Fprintln(e.Stdout)
		_ = report.PeakTable(e.Stdout, res)
		page, rerr := report.Write(res, dir, dir)
		if rerr != nil {
			return fmt.Errorf("render report for %s: %w", results, rerr)
		}
		fmt.Fprintf(e.Stdout, "\nreport: %s", page)
	}
	switch {
	case sweep.IsInterrupt(err):
		return fault.Errorf(fault.RunFailed, "interrupted; the %d run(s) measured so far are in %s", len(res.Runs), results)
	case err != nil:
		var fe *sweep.FailedError
		var te *sweep.ThresholdsError
		if errors.As(err, &fe) || errors.As(err, &te) {
			fmt.Fprintf(e.Stdout, "\nresults: %s\n", results)
		}
		return err
	}
	fmt.Fprintf(e.Stdout, "\nresults: %s\n", results)
	return nil
}

// laidOver are the flags a run laid over its scenario file, as given:
// not the command's name, --out (where the run went), nor the file.
func laidOver(args []string, file string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case i == 0 && a == "run", a == file:
		case a == "--out" || a == "-out":
			i++
		case strings.HasPrefix(a, "--out=") || strings.HasPrefix(a, "-out="):
		default:
			out = append(out, a)
		}
	}
	return out
}

// keepScenario writes the scenario file a run read into its directory as
// scenario.yaml (a --cmd run's is written from its value), headed by where
// it came from and the command line laid over it, so every run directory
// holds the scenario it ran (`harness gate --rules RUN/scenario.yaml`).
// Paths in it stay relative to the original's folder, which the header
// names.
func keepScenario(sc *scenario.Scenario, dir string, args []string) error {
	data, err := os.ReadFile(sc.File)
	if err != nil {
		return err
	}
	kept := filepath.Join(dir, "scenario.yaml")
	if abs1, _ := filepath.Abs(kept); abs1 == mustAbs(sc.File) {
		return nil // re-running a kept file into its own directory
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	head := fmt.Sprintf("# The scenario this run read: %s (sha256 %s), as it was, run with\n#   harness %s\n# Paths in it are relative to %s.\n",
		sc.File, sc.SHA256, strings.Join(args, " "), filepath.Dir(mustAbs(sc.File)))
	return os.WriteFile(kept, append([]byte(head), data...), 0o644)
}

func mustAbs(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// sayOutcome logs what the console says of each run once it is measured.
func sayOutcome(logf func(format string, args ...any)) func(result.Run) {
	somaxconn := proc.Somaxconn()
	return func(run result.Run) {
		for _, line := range report.Outcome(run, somaxconn) {
			logf("%s c=%d r=%d: %s", run.Target, run.Concurrency, run.Repeat, line)
		}
	}
}

// plural is "1 target" or "3 targets".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// intList is a flag of comma-separated integers: --levels 1,8,32.
type intList []int

func (l *intList) String() string { return fmt.Sprint(*l) }

func (l *intList) Set(s string) error {
	*l = nil
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("%q: want integers separated by commas", s)
		}
		*l = append(*l, n)
	}
	return nil
}

// stringList is a repeatable flag: --cmd a --cmd b.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// nameList is a flag of comma-separated names: --targets a,b.
type nameList []string

func (l *nameList) String() string { return strings.Join(*l, ",") }

func (l *nameList) Set(s string) error {
	*l = nil
	for _, f := range strings.Split(s, ",") {
		*l = append(*l, strings.TrimSpace(f))
	}
	return nil
}
