package sweep

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/heaphook"
	"github.com/floodharness/harness/internal/launch"
	"github.com/floodharness/harness/internal/load"
	"github.com/floodharness/harness/internal/loopback"
	"github.com/floodharness/harness/internal/proc"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/sample"
	"github.com/floodharness/harness/internal/scenario"
	"github.com/floodharness/harness/internal/trend"
	"github.com/floodharness/harness/internal/units"
)

// Options configure a sweep.
type Options struct {
	Scenario *scenario.Scenario
	// Dir is the run directory; results.json, logs/, series/ and profiles/
	// go under it.
	Dir string
	// Cgroups is where memory caps are made
	// (cgroup.System().Prepare()); nil: nowhere, the watchdog caps.
	Cgroups *cgroup.Maker
	// Flags are what the command line laid over the scenario file
	// (results: scenario.flags).
	Flags []string
	// Programs says which binaries "harness" means in a target's command.
	Programs Programs
	// Logf receives one line per event; Progress, when set, a status line
	// about once a second during each flood; Outcome, when set, each run
	// once it is measured (for the console's line about it).
	Logf     func(format string, args ...any)
	Progress func(line string)
	Outcome  func(result.Run)
}

// FailedError reports runs that could not measure; the sweep went on past
// them.
type FailedError struct{ Failed []string }

func (e *FailedError) Error() string {
	return fmt.Sprintf("%d run(s) could not measure: %s", len(e.Failed), strings.Join(e.Failed, "; "))
}

// FaultKind makes runs that could not measure a failed run.
func (e *FailedError) FaultKind() fault.Kind { return fault.RunFailed }

// ThresholdsError reports runs whose k6 thresholds failed (k6's exit 99;
// with several instances, judged on their merged data): the scenario's own
// verdict, so `harness run` exits 1 as a failed gate does.
type ThresholdsError struct{ Runs []string }

func (e *ThresholdsError) Error() string {
	return fmt.Sprintf("k6 thresholds failed in %d run(s): %s", len(e.Runs), strings.Join(e.Runs, "; "))
}

// FaultKind makes failed thresholds an unmet check.
func (e *ThresholdsError) FaultKind() fault.Kind { return fault.Unmet }

// DefaultDir is where a run named name (a scenario's name, with what kind
// of run it is) started at t goes when no directory is given:
// reports/<time>-<name>.
func DefaultDir(name string, t time.Time) string {
	return filepath.Join("reports", t.Format("20060102-150405")+"-"+name)
}

// ResultsPath is where a sweep in dir writes its results.
func ResultsPath(dir string) string { return filepath.Join(dir, "results.json") }

// Run performs the sweep. It returns the results so far with ctx's error
// when interrupted, and a *FailedError when some runs could not measure.
func Run(ctx context.Context, o Options) (*result.Results, error) {
	sc := o.Scenario
	if err := CheckScale(sc, slices.Max(sc.Levels)); err != nil {
		return nil, err
	}
	if err := Prepare(o); err != nil {
		return nil, err
	}
	res := &result.Results{
		Schema:    result.Schema,
		Scenario:  result.Scenario{Name: sc.Name, File: sc.File, SHA256: sc.SHA256, Flags: o.Flags},
		StartedAt: time.Now().UTC(),
		Partial:   true,
		Host:      host(o.Cgroups),
		Runs:      []result.Run{},
	}
	path := ResultsPath(o.Dir)
	if err := result.Write(path, res); err != nil {
		return nil, err
	}
	var failed, thresholds []string
	credHint := false // said once per sweep
	for _, tg := range sc.Targets {
		for _, level := range sc.Levels {
			for rep := range sc.Repeats {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				run, _ := measure(ctx, o, tg, level, rep)
				if ctx.Err() != nil {
					// An interrupted flood measured only part of its level:
					// not kept. One interrupted after it (in the settle, the
					// heap fetch) is, without what came after.
					if run.Interrupted {
						res.Runs = append(res.Runs, run)
						if err := result.Write(path, res); err != nil {
							return res, err
						}
					}
					return res, ctx.Err()
				}
				if run.Error != "" {
					failed = append(failed, fmt.Sprintf("%s c=%d r=%d (%s)", tg.Name, level, rep, fault.FirstLine(run.Error)))
				}
				if run.DriverExit == 99 {
					thresholds = append(thresholds, fmt.Sprintf("%s c=%d r=%d%s", tg.Name, level, rep, failedThresholds(run)))
				}
				if !credHint && (run.Errors[result.StatusOutcome(401)] > 0 || run.Errors[result.StatusOutcome(403)] > 0) {
					credHint = true
					o.Logf("%s answered 401/403: the server wants credentials: set request.headers (e.g. Authorization: Bearer ${TOKEN}) or -H on the command line", tg.Name)
				}
				res.Runs = append(res.Runs, run)
				if err := result.Write(path, res); err != nil {
					return res, err
				}
			}
		}
	}
	now := time.Now().UTC()
	res.FinishedAt, res.Partial = &now, false
	if err := result.Write(path, res); err != nil {
		return res, err
	}
	switch {
	case len(failed) > 0 && len(thresholds) > 0:
		return res, errors.Join(&FailedError{failed}, &ThresholdsError{thresholds})
	case len(failed) > 0:
		return res, &FailedError{failed}
	case len(thresholds) > 0:
		return res, &ThresholdsError{thresholds}
	}
	return res, nil
}

// Prepare makes o.Dir ready for runs (logs/, series/, profiles/), says
// once how memory.limit is enforced, and removes what dead harnesses left;
// Trial then measures one target at one concurrency, as Run does at every
// level: for searches that choose their levels as they go (capacity).
func Prepare(o Options) error {
	for _, sub := range []string{"logs", "series", "profiles"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, sub), 0o755); err != nil {
			return fmt.Errorf("create run directory: %w", err)
		}
	}
	logCap(o)
	removeStaleContainers(o)
	return nil
}

// CheckScale refuses, before anything starts, a level the built-in client
// cannot hold on this host (open files, ephemeral ports), with the number
// it needs; it first raises this process's open-file limit as far as the
// level asks and the host lets it (targets inherit it). k6 runs as
// processes of its own: not checked here.
func CheckScale(sc *scenario.Scenario, level int) error {
	if err := Fits(sc, level); err != nil {
		return fault.Errorf(fault.BadInput, "%s: %v", sc.Where("levels"), err)
	}
	return nil
}

// Fits is CheckScale's verdict without the scenario's place.
func Fits(sc *scenario.Scenario, level int) error {
	if sc.Driver == result.DriverK6 || level <= 0 {
		return nil
	}
	spread := true // every target on IPv4 loopback: connections from many source addresses
	for _, tg := range sc.Targets {
		ip := net.ParseIP(tg.Host).To4()
		spread = spread && ip != nil && ip.IsLoopback()
	}
	return load.RaiseFileLimit(uint64(level+load.Reserve)).Check(level, spread)
}

// Trial is one run of tg at level (repeat rep names its files), with a
// fresh target, measured and stopped. o.Scenario's duration is used as
// given: a caller that needs longer trials sets it. The error is the
// target's failure to start (the run says it too): no level would start
// it, so a search ends there. A trial takes no heap: auto evidence (a
// capacity is peaks and failures: a repeat under tracing would double
// every trial).
func Trial(ctx context.Context, o Options, tg scenario.Target, level, rep int) (result.Run, error) {
	run, err := measureOnce(ctx, &measurement{o: o, tg: tg, level: level, rep: rep, label: fmt.Sprintf("c%d-r%d", level, rep)})
	if o.Outcome != nil {
		o.Outcome(run)
	}
	return run, err
}

// Host describes this machine and how o's cgroups cap targets.
func Host(o Options) result.Host { return host(o.Cgroups) }

// failedThresholds names a run's failed thresholds where they were judged
// on merged data: " (http_reqs count<5: 363)".
func failedThresholds(run result.Run) string {
	var parts []string
	for _, th := range run.K6Thresholds {
		if !th.OK {
			parts = append(parts, fmt.Sprintf("%s %s: %g", th.Metric, th.Expr, th.Value))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// removeStaleContainers removes, from each engine the scenario's
// container targets use, the containers that harnesses no longer running
// left behind (SIGKILLed mid-level: a container is no child of theirs).
func removeStaleContainers(o Options) {
	seen := map[string]bool{}
	for _, tg := range o.Scenario.Targets {
		if tg.Container == nil || seen[tg.Container.Engine] {
			continue
		}
		seen[tg.Container.Engine] = true
		engine, err := launch.FindEngine(tg.Container.Engine)
		if err != nil {
			continue // each run of the target says so
		}
		removed, err := engine.RemoveStale()
		for _, name := range removed {
			o.Logf("removed container %s, left by a harness that is no longer running", name)
		}
		if err != nil {
			o.Logf("remove containers left by earlier harnesses: %v", err)
		}
	}
}

// logCap says once, at the start, how memory.limit will be enforced.
func logCap(o Options) {
	limit := o.Scenario.Memory.Limit
	if limit <= 0 {
		return
	}
	for _, p := range o.Cgroups.Stale() {
		o.Logf("removed %s, left by a harness that is no longer running", p)
	}
	if o.Cgroups.Available() {
		o.Logf("memory.limit %v: a memory cgroup per target (%s); the kernel OOM-kills at the cap", limit, o.Cgroups.Mode())
		return
	}
	o.Logf("memory.limit %v: WATCHDOG, not a kernel cap: %s. %s", limit, o.Cgroups.Why(), launch.WatchdogMeaning)
}

// measure performs one run: fresh target, idle reading, flood, stop. Each
// step returns what it found; assemble makes the run from those values.
// The error is set only when the target did not start.
//
// A target with heap: auto is measured twice: the run's figures come from
// a plain run, its heap evidence from a repeat of its own with the
// runtime's mechanism injected (tracemalloc doubled a Python server's peak
// here: 75.3 → 164.0 MiB at 4 clients), whose peak the run keeps beside
// its own: what measuring cost.
func measure(ctx context.Context, o Options, tg scenario.Target, level, rep int) (result.Run, error) {
	run, err := measureOnce(ctx, &measurement{o: o, tg: tg, level: level, rep: rep, label: fmt.Sprintf("c%d-r%d", level, rep)})
	repeat, why := heapAuto(o.Scenario, tg, run)
	switch {
	case repeat && err == nil && run.Error == "" && ctx.Err() == nil:
		ev, _ := measureOnce(ctx, &measurement{o: o, tg: tg, level: level, rep: rep, label: fmt.Sprintf("c%d-r%d-heap", level, rep), traced: true, runtime: run.Runtime, aside: " (heap evidence)"})
		if ctx.Err() == nil {
			withEvidence(&run, ev)
		}
	case why != "" && run.HeapNote == "":
		run.HeapNote = why
	}
	if o.Outcome != nil {
		o.Outcome(run)
	}
	return run, err
}

// heapAuto says whether run's target gets heap: auto's evidence repeat:
// asked for, or by default a server the harness started whose main
// process is an interpreter a hook reaches (python, ruby, node) or native
// code heaptrack traces, on loopback (a Node server's inspector is opened
// for it), and that names no heap endpoint of its own; never with heap
// profiles off. Where evidence was asked for or expected and cannot be
// taken, why says so in a line.
func heapAuto(sc *scenario.Scenario, tg scenario.Target, run result.Run) (repeat bool, why string) {
	asked := tg.Heap == scenario.HeapAuto
	switch {
	case sc.Memory.HeapProfile == result.HeapOff || tg.Heap == scenario.HeapOff:
		return false, ""
	case !asked && (tg.Heap != "" || tg.Pprof != "" || tg.Tracemalloc != "" || tg.Attach != nil || tg.Container != nil || !loopback.Host(tg.Host)):
		return false, ""
	case run.Runtime == "go":
		return false, "heap: auto: a Go heap cannot be read from outside the process: serve net/http/pprof and name it (pprof: /debug/pprof/heap)"
	case run.Runtime == "native":
		if _, err := heaphook.FindHeaptrack(); err != nil {
			return false, "heap: auto: a native server's heap is traced with heaptrack: " + err.Error()
		}
		return true, ""
	case asked:
		return true, ""
	}
	return run.Runtime != "", ""
}

// traceCap bounds heaptrack's trace of a traced repeat: past it the
// target is stopped (a malloc-heavy server writes hundreds of MB a
// second), and traceCappedNote begins what the run says of it.
var traceCap int64 = 2 << 30

const traceCappedNote = "heap: auto: heaptrack's trace passed"

// withEvidence takes the heap evidence of an instrumented repeat ev into
// run, with the repeat's peak.
func withEvidence(run *result.Run, ev result.Run) {
	run.HeapMechanism, run.HeapToolBytes, run.HeapEvidencePeakBytes, run.HeapTrace = ev.HeapMechanism, ev.HeapToolBytes, ev.PeakRSSBytes, ev.HeapTrace
	run.HeapTop, run.HeapProfile, run.HeapProfileAt = ev.HeapTop, ev.HeapProfile, ev.HeapProfileAt
	run.AfterHeapTop, run.AfterHeapProfile = ev.AfterHeapTop, ev.AfterHeapProfile
	run.SteadyHeapProfile, run.HeapGrowth = ev.SteadyHeapProfile, ev.HeapGrowth
	switch {
	case strings.HasPrefix(ev.HeapNote, traceCappedNote):
		run.HeapNote = ev.HeapNote
	case ev.Error != "":
		run.HeapNote = "heap: auto: the repeat with " + ev.HeapMechanism + " failed: " + fault.FirstLine(ev.Error)
	case ev.OOMKilled:
		run.HeapNote = "heap: auto: the repeat with its heap traced was killed at the cap: the evidence is what it had before"
	default:
		run.HeapNote = ev.HeapNote
	}
}

// measureOnce is one run of m's target: fresh, idle reading, flood, stop.
func measureOnce(ctx context.Context, m *measurement) (result.Run, error) {
	o, tg := m.o, m.tg
	var parts parts
	parts.log = filepath.Join("logs", tg.Name+"-"+m.label+".log")
	spec, err := m.spec()
	if err != nil {
		m.logf("%v", err)
		return m.assemble(parts, err), err
	}
	if m.hook != nil {
		defer os.RemoveAll(filepath.Dir(m.hook.Dir))
		defer m.hook.Close() // a Node server's inspector connection
	}
	m.launched = spec
	p, err := launch.Start(ctx, spec)
	if err != nil {
		m.logf("%v", err)
		return m.assemble(parts, err), err
	}
	defer p.Stop() // also on panic: no target outlives the sweep
	parts.idle = p.Memory()
	if tg.Attach == nil && tg.Container == nil {
		parts.runtime = proc.Runtime(p.PID())
	}
	parts.limitBy, parts.limitNote = p.LimitBy(int64(o.Scenario.Memory.Limit), o.Cgroups)

	parts.series = filepath.Join("series", tg.Name+"-"+m.label+".csv")
	series, err := os.Create(filepath.Join(o.Dir, parts.series))
	if err != nil {
		return m.assemble(parts, fmt.Errorf("create series: %w", err)), nil
	}
	defer series.Close()

	if m.hook != nil {
		// Tops count what the flood allocated and holds, not the imports.
		if err := m.hook.Mark(sample.Tree(p.PID()), 10*time.Second); err != nil {
			m.logf("heap: auto: %v", err)
		}
	}
	w := m.watch(ctx, p, series, parts.idle, parts.limitBy)
	up := ""
	if p.HealthStatus != 0 && p.HealthStatus != http.StatusOK {
		up = fmt.Sprintf(" (up: %s answered %d)", tg.Health, p.HealthStatus)
	}
	if mix := o.Scenario.Requests.Mix; len(mix) > 0 {
		m.logf("flooding %s with a mix of %d requests%s", p.URL("/"), len(mix), up)
	} else {
		m.logf("flooding %s%s", p.URL(o.Scenario.RequestPath(tg)), up)
	}
	sc := o.Scenario
	trended := sc.Duration >= sc.Memory.TrendMin
	if trended {
		// The trend is fit over the later half after warmup (trend.Fit).
		w.heap.steadyAfter(sc.Warmup + sc.Duration/2)
	}
	before, lerr := proc.ReadListen()
	parts.client, parts.clientErr = m.flood(ctx, p, w)
	whole := ctx.Err() == nil // the flood ran its level: kept, whatever comes after
	if after, err := proc.ReadListen(); err == nil && lerr == nil {
		parts.listen = after.Sub(before)
	}
	parts.watched = w.stop()
	p = parts.watched.serving
	defer p.Stop() // the process serving now, after any chaos restart
	parts.heap = w.heap.finish(o.Dir, tg.Name+"-"+m.label, p.Done())
	if parts.heap.note != "" {
		m.logf("%s", parts.heap.note)
	}
	if parts.after = m.settle(ctx, p); parts.after > 0 {
		parts.afterHeap = w.heap.after(o.Dir, tg.Name+"-"+m.label)
		if trended {
			parts.steadyHeap, parts.growth = w.heap.growth(o.Dir, tg.Name+"-"+m.label, parts.afterHeap)
		}
	}
	parts.exit, _ = p.Stop()
	run := m.assemble(parts, nil)
	run.Interrupted = whole && ctx.Err() != nil
	if trended && run.Error == "" && !run.OOMKilled {
		if ts, ys, err := sample.ReadSeries(filepath.Join(o.Dir, parts.series)); err == nil {
			tr := trend.Fit(ts, ys, sc.Warmup.Seconds(), sc.Memory.TrendMin.Seconds())
			run.MemoryTrend = &tr
		}
	}
	return run, nil
}

// parts is what the steps of one run found.
type parts struct {
	log, series string
	idle        int64
	limitBy     result.LimitBy
	limitNote   string
	client      result.Client
	clientErr   error
	watched     watchSummary
	heap        heapProfile
	exit        launch.Exit
	listen      proc.Listen        // the host's accept-queue overflows during the flood
	after       int64              // memory after memory.settle (0: not read)
	afterHeap   heapProfile        // the heap profile then (what is still held)
	steadyHeap  string             // the profile at the start of the trend's part
	growth      []result.HeapDelta // what grew from it to afterHeap
	runtime     string             // the main process's interpreter (proc.Runtime)
}

// assemble is the one place a run is made: from what the steps found, or
// from the error that stopped them.
func (m *measurement) assemble(p parts, failed error) result.Run {
	run := result.Run{
		Target: m.tg.Name, Concurrency: m.level, Repeat: m.rep, Runtime: p.runtime,
		MemoryLimitBytes: int64(m.o.Scenario.Memory.Limit),
		Log:              p.log,
		HeapTop:          []result.HeapFunc{},
	}
	if failed != nil {
		run.Error, run.Errors = failed.Error(), map[string]int64{}
		return run
	}
	// On a driver error the client holds only what the driver knew (its
	// log, the harness's own CPU and RSS); its counts are zero.
	run.Client = p.client
	if run.Errors == nil {
		run.Errors = map[string]int64{}
	}
	switch {
	case p.clientErr != nil:
		run.Error = p.clientErr.Error()
	case p.watched.restartErr != nil:
		run.Error = fmt.Sprintf("restart: %v", p.watched.restartErr)
	}
	run.IdleRSSBytes, run.MemoryLimitBy, run.MemoryLimitNote = p.idle, p.limitBy, p.limitNote
	if p.after > 0 {
		run.AfterRSSBytes, run.RetainedBytes = p.after, p.after-p.idle
		run.SettleS = m.o.Scenario.Memory.Settle.Seconds()
		run.AfterHeapProfile, run.AfterHeapTop = p.afterHeap.path, p.afterHeap.top
		run.SteadyHeapProfile, run.HeapGrowth = p.steadyHeap, p.growth
	}
	run.RSSSeries = p.series
	run.ListenOverflows, run.ListenDrops = p.listen.Overflows, p.listen.Drops
	run.TCPMemoryPressures, run.SynRetrans = p.listen.MemoryPressures, p.listen.SynRetrans
	sum := p.watched.sum
	run.Exit = p.exit.Exit
	// The kernel's peaks and kills over every process of the run: one
	// that chaos replaced may have died of OOM first.
	peaks, replacedOOM := p.exit, false
	run.OOMKills = p.watched.serving.OOMKills(sum, p.exit)
	for _, ex := range p.watched.killed {
		replacedOOM = replacedOOM || ex.OOMKilled()
		peaks.CgroupPeak, peaks.MaxRSS = max(peaks.CgroupPeak, ex.CgroupPeak), max(peaks.MaxRSS, ex.MaxRSS)
		run.OOMKills += ex.OOMKills
	}
	run.OOMKilled = p.exit.OOMKilled() || p.watched.watchdogFired || replacedOOM || run.OOMKills > 0
	run.CgroupPeakBytes, run.CgroupAnonPeakBytes = peaks.CgroupPeak, sum.Anon
	run.DiedProcesses = sum.Died
	if len(sum.AtPeak) > 1 {
		run.PeakProcesses = sum.AtPeak
	}
	run.MainLived = p.exit.Stopped && !p.watched.watchdogFired
	if run.MainLived {
		// The kernel's count holds workers the sampler never saw: born and
		// killed between two samples, or at the flood's very end.
		run.DiedProcesses = max(run.DiedProcesses, int(run.OOMKills))
	}
	run.SampledPeakRSSBytes = sum.Peak.RSS
	run.PeakRSSAnonBytes, run.PeakRSSFileBytes = sum.Peak.RSS-sum.Peak.Shared, sum.Peak.Shared
	serving := p.watched.serving
	run.PeakRSSBytes, run.PeakRSSSource = serving.Peak(sum, peaks)
	serving.Describe(&run, p.exit)
	run.Restarts, run.RestartGapS = p.watched.restarts, p.watched.gap.Seconds()
	run.HeapProfile, run.HeapProfileAt = p.heap.path, p.heap.at
	run.HeapMechanism, run.HeapToolBytes, run.HeapNote, run.HeapTrace = p.heap.mechanism, p.heap.toolBytes, p.heap.note, p.heap.trace
	if p.watched.traceCapped {
		run.HeapNote = fmt.Sprintf("%s %s; the repeat was stopped there, and its evidence is the trace until then", traceCappedNote, mib(traceCap))
	}
	if p.heap.top != nil {
		run.HeapTop = p.heap.top
	}
	if run.Error == "" && !run.OOMKilled {
		// A server that answered nothing right measured no flood: its
		// peak is an idle server's, and the run failed (exit 3).
		run.Error = run.NoOKResponse()
	}
	return run
}

// measurement is one run in progress.
type measurement struct {
	o          Options
	tg         scenario.Target
	level, rep int
	label      string
	launched   launch.Spec    // how the target was started (a chaos restart starts it again)
	hook       *heaphook.Hook // heap: auto's tracemalloc, injected at start
	traced     bool           // heap: auto's evidence repeat: inject the hook
	runtime    string         // what the plain run's main process ran (proc.Runtime): which hook
	aside      string         // what the console calls the run beside its name
}

// pidsOf are the target's processes at a sample (its main one before the
// first).
func pidsOf(s sample.Sample, main int) []int {
	pids := []int{main}
	for _, pm := range s.Each {
		if pm.PID != main {
			pids = append(pids, pm.PID)
		}
	}
	return pids
}

func (m *measurement) logf(format string, args ...any) {
	m.o.Logf("%s c=%d r=%d%s: "+format, append([]any{m.tg.Name, m.level, m.rep, m.aside}, args...)...)
}

// settle keeps the target running memory.settle after the flood, then
// reads its memory in the same measure as its idle: what the flood left
// behind. 0 when settle is off, or the target is gone.
func (m *measurement) settle(ctx context.Context, p *launch.Process) int64 {
	d := m.o.Scenario.Memory.Settle
	if d == nil || *d <= 0 {
		return 0
	}
	select {
	case <-time.After(*d):
	case <-p.Done():
		return 0
	case <-ctx.Done():
		return 0
	}
	select {
	case <-p.Done():
		return 0
	default:
	}
	return p.Memory()
}

// floodWatch is everything that watches the target during a flood: the RSS
// sampler, the heap profiler, the no-cgroup watchdog and the chaos
// restarter, which replaces the process (and its sampler) mid-flood.
type floodWatch struct {
	serving atomic.Pointer[launch.Process] // the process answering now
	smp     *sample.Sampler
	heap    *heapProfiler
	chaos   *restarter
	fired   atomic.Bool // the watchdog killed a process at the cap
	// traceCapped: heaptrack's trace passed traceCap and the target was
	// stopped there.
	traceCapped atomic.Bool
	loadStop    <-chan struct{} // ends the flood early: the target died
}

// watchSummary is what the watcher saw, once stopped.
type watchSummary struct {
	serving       *launch.Process // the process serving at the end
	sum           sample.Summary  // what the samplers saw
	watchdogFired bool
	traceCapped   bool
	restarts      int
	gap           time.Duration
	restartErr    error
	killed        []launch.Exit // how the processes chaos replaced ended
}

func (m *measurement) watch(ctx context.Context, p *launch.Process, series *os.File, idle int64, by result.LimitBy) *floodWatch {
	sc := m.o.Scenario
	w := &floodWatch{loadStop: p.Done()}
	// The processes as the latest sample saw them, for heap: auto's hook
	// (kept here: the first sample comes before sample.Start returns).
	var seen atomic.Pointer[sample.Sample]
	pids := func() []int {
		if s := seen.Load(); s != nil {
			return pidsOf(*s, p.PID())
		}
		return []int{p.PID()}
	}
	w.heap = newHeapProfiler(ctx, m.tg, p.URL, p.Client(30*time.Second), sc.Memory.HeapProfile, idle, m.hook, pids)
	w.serving.Store(p)
	watchdog := by == result.LimitWatchdog
	var traceAt time.Time // when heaptrack's trace was last measured
	opts := sample.Options{
		PID: p.PID(), Interval: sc.Memory.SampleInterval, Cgroup: p.Usage(), Series: series, Start: time.Now(),
		OnSample: func(s sample.Sample) {
			// The one measure, as the peak is: summed RSS counts a shared
			// page once per process (a pre-fork server read ~4x its memory).
			if watchdog && s.Memory >= int64(sc.Memory.Limit) && w.fired.CompareAndSwap(false, true) {
				w.serving.Load().Kill()
			}
			if m.hook != nil && m.hook.KeepsPeak() && time.Since(traceAt) >= 500*time.Millisecond {
				traceAt = time.Now()
				if m.hook.TraceBytes() > traceCap && w.traceCapped.CompareAndSwap(false, true) {
					w.serving.Load().Kill() // the disk is not the trace's
				}
			}
			seen.Store(&s)
			w.heap.observe(s.Memory)
		},
	}
	w.smp = sample.Start(opts)
	if sc.Chaos.RestartAfter > 0 {
		w.chaos = startRestarter(ctx, sc.Chaos.RestartAfter, m.launched, p, w.smp, opts, w.serving.Store)
		w.loadStop = nil // the target dies on purpose; the flood goes on
	}
	return w
}

// stop ends the watching and returns what it saw.
func (w *floodWatch) stop() watchSummary {
	if w.chaos == nil {
		return watchSummary{serving: w.serving.Load(), sum: w.smp.Stop(), watchdogFired: w.fired.Load(), traceCapped: w.traceCapped.Load()}
	}
	p, sum := w.chaos.finish()
	return watchSummary{serving: p, sum: sum, watchdogFired: w.fired.Load(), traceCapped: w.traceCapped.Load(),
		restarts: w.chaos.restarts, gap: w.chaos.gap, restartErr: w.chaos.err, killed: w.chaos.exits}
}

// flood produces the level's load with the scenario's driver.
func (m *measurement) flood(ctx context.Context, p *launch.Process, w *floodWatch) (result.Client, error) {
	sc, tg := m.o.Scenario, m.tg
	job := load.Job{
		Options: loadOptions(sc, tg, p, m.level, w.loadStop, func(pr load.Progress) {
			if m.o.Progress != nil {
				m.o.Progress(fmt.Sprintf("%s c=%d r=%d  %5.1fs  %6.1f req/s  %7.1f MB/s  rss %s",
					tg.Name, m.level, m.rep, pr.Elapsed.Seconds(), float64(pr.Requests)/pr.Elapsed.Seconds(),
					float64(pr.Bytes)/pr.Elapsed.Seconds()/1e6, mib(w.smp.Latest().Memory)))
			}
		}),
		Target: tg.Name, Port: p.Port,
		Dir: m.o.Dir, LogName: filepath.Join("logs", tg.Name+"-"+m.label+"-k6"),
	}
	return load.Drive(ctx, driver(sc), job)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", units.MiB(b)) }

func host(cg *cgroup.Maker) result.Host {
	ph := proc.ReadHost()
	return result.Host{
		CPUs: runtime.NumCPU(), CPUModel: ph.CPUModel, Go: runtime.Version(), Kernel: ph.Kernel, MemBytes: ph.MemBytes,
		Cgroup: cg.Version(), CgroupMode: cg.Mode(), Somaxconn: proc.Somaxconn(),
	}
}

// IsInterrupt reports whether err means the sweep was stopped by a signal.
func IsInterrupt(err error) bool {
	return errors.Is(err, context.Canceled)
}
