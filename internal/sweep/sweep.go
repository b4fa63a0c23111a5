// Package sweep runs a scenario: for every target × level × repeat it
// starts a fresh target, measures it at rest, floods it while sampling its
// memory, fetches a heap profile near the peak, stops it, and appends the
// run to results.json — rewritten atomically after every run, so an
// interrupted sweep keeps everything it measured. It owns the order of
// things; measuring, loading and process control live in their packages.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/floodharness/harness/internal/launch"
	"github.com/floodharness/harness/internal/load"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/sample"
	"github.com/floodharness/harness/internal/scenario"
	"github.com/floodharness/harness/internal/usage"
)

// Options configure a sweep.
type Options struct {
	Scenario *scenario.Scenario
	// Dir is the run directory; results.json, logs/, series/ and profiles/
	// go under it.
	Dir string
	// Cgroups is where memory caps are made (launch.SystemCgroups()).
	Cgroups launch.CgroupFS
	// Logf receives one line per event; Progress, when set, a status line
	// about once a second during each flood.
	Logf     func(format string, args ...any)
	Progress func(line string)
}

// FailedError reports runs that could not measure; the sweep went on past
// them. Its exit code is 3.
type FailedError struct{ Failed []string }

func (e *FailedError) Error() string {
	return fmt.Sprintf("%d run(s) could not measure: %s", len(e.Failed), strings.Join(e.Failed, "; "))
}

// ExitCode implements the CLI's exit-code contract.
func (e *FailedError) ExitCode() int { return 3 }

// ResultsPath is where a sweep in dir writes its results.
func ResultsPath(dir string) string { return filepath.Join(dir, "results.json") }

// Run performs the sweep. It returns the results so far with ctx's error
// when interrupted, and a *FailedError when some runs could not measure.
func Run(ctx context.Context, o Options) (*result.Results, error) {
	sc := o.Scenario
	for _, sub := range []string{"logs", "series", "profiles"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("create run directory: %w", err)
		}
	}
	res := &result.Results{
		Schema:    result.Schema,
		Scenario:  result.Scenario{Name: sc.Name, File: sc.File, SHA256: sc.SHA256},
		StartedAt: time.Now().UTC(),
		Partial:   true,
		Host:      host(o.Cgroups),
		Runs:      []result.Run{},
	}
	path := ResultsPath(o.Dir)
	if err := result.Write(path, res); err != nil {
		return nil, err
	}
	var failed []string
	for _, tg := range sc.Targets {
		for _, level := range sc.Levels {
			for rep := range sc.Repeats {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				run := measure(ctx, o, tg, level, rep)
				if ctx.Err() != nil {
					// An interrupted flood measured only part of its level: not kept.
					return res, ctx.Err()
				}
				if run.Error != "" {
					failed = append(failed, fmt.Sprintf("%s c=%d r=%d", tg.Name, level, rep))
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
	if len(failed) > 0 {
		return res, &FailedError{failed}
	}
	return res, nil
}

// measure performs one run: fresh target, idle reading, flood, stop.
func measure(ctx context.Context, o Options, tg scenario.Target, level, rep int) result.Run {
	m := &measurement{o: o, tg: tg, level: level, rep: rep, label: fmt.Sprintf("c%d-r%d", level, rep)}
	m.run = result.Run{
		Target: tg.Name, Concurrency: level, Repeat: rep,
		Errors:           map[string]int64{},
		MemoryLimitBytes: int64(o.Scenario.Memory.Limit),
		Log:              filepath.Join("logs", tg.Name+"-"+m.label+".log"),
		HeapTop:          []result.HeapFunc{},
	}
	p, err := launch.Start(ctx, m.spec())
	if err != nil {
		m.logf("%v", err)
		m.run.Error = err.Error()
		return m.run
	}
	defer p.Stop() // also on panic: no target outlives the sweep
	m.atRest(p)

	series, err := os.Create(filepath.Join(o.Dir, "series", tg.Name+"-"+m.label+".csv"))
	if err != nil {
		m.run.Error = fmt.Sprintf("create series: %v", err)
		return m.run
	}
	defer series.Close()
	m.run.RSSSeries = filepath.Join("series", tg.Name+"-"+m.label+".csv")

	w := m.watch(ctx, p, series)
	m.logf("flooding %s", p.URL(o.Scenario.RequestPath(tg)))
	lr, lerr := m.flood(ctx, p, w)
	p, sum := w.stop(&m.run)
	defer p.Stop() // the process serving now, after any chaos restart
	w.heap.finish(o.Dir, m.label, p.Done(), &m.run)
	ex, _ := p.Stop()
	m.record(lr, lerr, sum, ex, w.fired.Load())
	return m.run
}

// measurement is one run in progress.
type measurement struct {
	o          Options
	tg         scenario.Target
	level, rep int
	label      string
	run        result.Run
}

func (m *measurement) logf(format string, args ...any) {
	m.o.Logf("%s c=%d r=%d: "+format, append([]any{m.tg.Name, m.level, m.rep}, args...)...)
}

func (m *measurement) spec() launch.Spec {
	sc, tg := m.o.Scenario, m.tg
	return launch.Spec{
		Name: tg.Name, Label: m.label,
		Command: tg.Command, Env: tg.Env, Host: tg.Host,
		Health: tg.Health, HealthTimeout: tg.HealthTimeout,
		LogDir:      filepath.Join(m.o.Dir, "logs"),
		MemoryLimit: int64(sc.Memory.Limit),
		Cgroups:     m.o.Cgroups,
	}
}

// atRest reads the target's idle RSS and how its memory is capped.
func (m *measurement) atRest(p *launch.Process) {
	for _, pr := range sample.Tree(p.PID()) {
		if mi, err := pr.MemoryInfo(); err == nil {
			m.run.IdleRSSBytes += int64(mi.RSS)
		}
	}
	if m.o.Scenario.Memory.Limit > 0 {
		m.run.MemoryLimitBy = "cgroup"
		if p.Cgroup == nil {
			m.run.MemoryLimitBy = "watchdog"
		}
	}
}

// watcher is everything that watches the target during a flood: the RSS
// sampler, the heap profiler, the no-cgroup watchdog and the chaos
// restarter, which replaces the process (and its sampler) mid-flood.
type watcher struct {
	serving  atomic.Pointer[launch.Process] // the process answering now
	smp      *sample.Sampler
	heap     *heapWatch
	chaos    *restarter
	fired    atomic.Bool     // the watchdog killed a process at the cap
	loadStop <-chan struct{} // ends the flood early: the target died
}

func (m *measurement) watch(ctx context.Context, p *launch.Process, series *os.File) *watcher {
	sc := m.o.Scenario
	w := &watcher{heap: newHeapWatch(ctx, m.tg, p.URL, sc.Memory.HeapProfile, m.run.IdleRSSBytes), loadStop: p.Done()}
	w.serving.Store(p)
	var cg sample.Usage
	if p.Cgroup != nil {
		cg = p.Cgroup
	}
	watchdog := m.run.MemoryLimitBy == "watchdog"
	opts := sample.Options{
		PID: p.PID(), Interval: sc.Memory.SampleInterval, Cgroup: cg, Series: series,
		OnSample: func(s sample.Sample) {
			if watchdog && s.RSS >= int64(sc.Memory.Limit) && w.fired.CompareAndSwap(false, true) {
				w.serving.Load().Kill()
			}
			w.heap.observe(s.RSS)
		},
	}
	w.smp = sample.Start(opts)
	if sc.Chaos.RestartAfter > 0 {
		w.chaos = startRestarter(ctx, sc.Chaos.RestartAfter, m.spec(), p, w.smp, opts, w.serving.Store)
		w.loadStop = nil // the target dies on purpose; the flood goes on
	}
	return w
}

// stop ends the watching, notes any restarts in run, and returns the
// process serving at the end and what the samplers saw.
func (w *watcher) stop(run *result.Run) (*launch.Process, sample.Summary) {
	if w.chaos == nil {
		return w.serving.Load(), w.smp.Stop()
	}
	p, sum := w.chaos.finish()
	run.Restarts, run.RestartGapS = w.chaos.restarts, w.chaos.gap.Seconds()
	if w.chaos.err != nil {
		run.Error = fmt.Sprintf("restart: %v", w.chaos.err)
	}
	return p, sum
}

// flood produces the level's load with the scenario's driver, and records
// the client's own CPU time and peak RSS.
func (m *measurement) flood(ctx context.Context, p *launch.Process, w *watcher) (*load.Result, error) {
	sc, tg := m.o.Scenario, m.tg
	cpu0 := usage.Self()
	usage.ResetPeakRSS()
	defer func() {
		m.run.ClientCPUS = usage.Self().Sub(cpu0).Seconds()
		m.run.ClientPeakRSSBytes = usage.PeakRSS()
	}()
	if sc.Driver == "k6" {
		return nil, runK6(ctx, m.o, tg, p, m.level, m.label, &m.run)
	}
	return load.Run(ctx, loadOptions(sc, tg, p, m.level, w.loadStop, func(pr load.Progress) {
		if m.o.Progress != nil {
			m.o.Progress(fmt.Sprintf("%s c=%d r=%d  %5.1fs  %6.1f req/s  %7.1f MB/s  rss %s",
				tg.Name, m.level, m.rep, pr.Elapsed.Seconds(), float64(pr.Requests)/pr.Elapsed.Seconds(),
				float64(pr.Bytes)/pr.Elapsed.Seconds()/1e6, mib(w.smp.Latest().RSS)))
		}
	}))
}

// record fills the run from what the flood, the samplers and the target's
// exit said, and logs the outcome.
func (m *measurement) record(lr *load.Result, lerr error, sum sample.Summary, ex launch.Exit, watchdogFired bool) {
	run := &m.run
	switch {
	case lerr != nil:
		run.Error = lerr.Error()
	case lr != nil && run.Error == "":
		fillLoad(run, lr)
	}
	run.Exit = result.Exit{Code: ex.Code, Signal: ex.Signal}
	run.OOMKilled = ex.OOMKilled() || watchdogFired
	run.CgroupPeakBytes, run.CgroupAnonPeakBytes = ex.CgroupPeak, sum.Anon
	run.SampledPeakRSSBytes = sum.Peak.RSS
	run.PeakRSSBytes, run.PeakRSSSource = kernelPeak(sum, ex)
	verdict := ""
	if run.OOMKilled {
		verdict = "  OOM-KILLED"
	}
	m.logf("%d ok / %d requests, peak RSS %s (%s)%s", run.OK, run.Requests, mib(run.PeakRSSBytes), run.PeakRSSSource, verdict)
}

// kernelPeak picks the peak a run reports, and names its source. One
// process: its VmHWM (read while alive) or ru_maxrss (read at reaping, so
// it survives an OOM kill), whichever is larger — the kernel's own peak. A
// process tree under a cgroup: the cgroup's peak charge. Otherwise only the
// sampler's maximum is left, and the source says so.
func kernelPeak(sum sample.Summary, ex launch.Exit) (int64, string) {
	switch {
	case sum.Peak.Procs <= 1:
		return max(sum.HWM, ex.MaxRSS), "vmhwm"
	case ex.CgroupPeak > 0:
		return ex.CgroupPeak, "cgroup"
	default:
		return sum.Peak.RSS, "sampled"
	}
}

// loadOptions is the built-in client's configuration for one run.
func loadOptions(sc *scenario.Scenario, tg scenario.Target, p *launch.Process, level int, stop <-chan struct{}, progress func(load.Progress)) load.Options {
	return load.Options{
		URL:         p.URL(sc.RequestPath(tg)),
		Concurrency: level,
		Duration:    sc.Duration, Warmup: sc.Warmup, Requests: sc.Requests, Grace: sc.Grace,
		Rate:       float64(sc.Client.Rate),
		ReadRate:   int64(sc.Client.ReadRate),
		AbortAfter: int64(sc.Client.AbortAfterBytes), AbortFraction: sc.Client.AbortFraction,
		RecvBuffer:  int(sc.Client.RecvBuffer),
		Validate:    sc.Request.Validate,
		Resume:      sc.Client.Resume,
		Timeout:     sc.Request.Timeout,
		AllowRemote: sc.AllowRemote,
		Stop:        stop,
		Progress:    progress,
	}
}

func fillLoad(run *result.Run, lr *load.Result) {
	run.Requests, run.OK, run.Failed = lr.Requests, lr.OK, lr.Failed
	run.Aborted, run.CutOff = lr.Aborted, lr.CutOff
	run.BytesReceived, run.Rows, run.Resumes = lr.Bytes, lr.Rows, lr.Resumes
	if len(lr.ResumedBy) > 0 {
		run.ResumedBy = lr.ResumedBy
	}
	run.DurationS = lr.Elapsed.Seconds()
	for k, v := range lr.Errors {
		run.Errors[k] = v
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	run.LatencyMs = result.Latency{
		P50: ms(lr.Latency.Quantile(0.50)), P90: ms(lr.Latency.Quantile(0.90)),
		P99: ms(lr.Latency.Quantile(0.99)), Max: ms(lr.Latency.Max()),
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func host(cg launch.CgroupFS) result.Host {
	h := result.Host{CPUs: runtime.NumCPU(), Go: runtime.Version(), Cgroup: cg.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			h.MemBytes = kb << 10
		}
	}
	return h
}

// IsInterrupt reports whether err means the sweep was stopped by a signal.
func IsInterrupt(err error) bool {
	return errors.Is(err, context.Canceled)
}
