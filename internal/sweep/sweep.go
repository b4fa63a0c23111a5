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
	"time"

	"github.com/floodharness/harness/internal/load"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/sample"
	"github.com/floodharness/harness/internal/scenario"
	"github.com/floodharness/harness/internal/target"
	"github.com/floodharness/harness/internal/usage"
)

// Options configure a sweep.
type Options struct {
	Scenario *scenario.Scenario
	// Dir is the run directory; results.json, logs/, series/ and profiles/
	// go under it.
	Dir string
	// Cgroups is where memory caps are made (target.SystemCgroups()).
	Cgroups target.CgroupFS
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
	sc := o.Scenario
	label := fmt.Sprintf("c%d-r%d", level, rep)
	run := result.Run{
		Target: tg.Name, Concurrency: level, Repeat: rep,
		Errors:           map[string]int64{},
		MemoryLimitBytes: int64(sc.Memory.Limit),
		Log:              filepath.Join("logs", tg.Name+"-"+label+".log"),
		HeapTop:          []result.HeapFunc{},
	}
	spec := target.Spec{
		Name: tg.Name, Label: label,
		Command: tg.Command, Env: tg.Env, Host: tg.Host,
		Health: tg.Health, HealthTimeout: tg.HealthTimeout,
		LogDir:      filepath.Join(o.Dir, "logs"),
		MemoryLimit: int64(sc.Memory.Limit),
		Cgroups:     o.Cgroups,
	}
	p, err := target.Start(ctx, spec)
	if err != nil {
		run.Error = err.Error()
		o.Logf("%s c=%d r=%d: %v", tg.Name, level, rep, err)
		return run
	}
	defer p.Stop() // also on panic: no target outlives the sweep

	idle := sample.Tree(p.PID())
	for _, pr := range idle {
		if mi, err := pr.MemoryInfo(); err == nil {
			run.IdleRSSBytes += int64(mi.RSS)
		}
	}
	if sc.Memory.Limit > 0 {
		run.MemoryLimitBy = "cgroup"
		if p.Cgroup == nil {
			run.MemoryLimitBy = "watchdog"
		}
	}

	series, err := os.Create(filepath.Join(o.Dir, "series", tg.Name+"-"+label+".csv"))
	if err != nil {
		run.Error = fmt.Sprintf("create series: %v", err)
		return run
	}
	defer series.Close()
	run.RSSSeries = filepath.Join("series", tg.Name+"-"+label+".csv")

	heap := newHeapWatch(ctx, tg, p, sc.Memory.HeapProfile, run.IdleRSSBytes)
	watchdogFired := false
	var cg sample.Usage
	if p.Cgroup != nil {
		cg = p.Cgroup
	}
	first := p
	sopts := sample.Options{
		PID: p.PID(), Interval: sc.Memory.SampleInterval, Cgroup: cg, Series: series,
		OnSample: func(s sample.Sample) {
			if run.MemoryLimitBy == "watchdog" && s.RSS >= int64(sc.Memory.Limit) && !watchdogFired {
				watchdogFired = true
				first.Kill()
			}
			heap.observe(s.RSS)
		},
	}
	smp := sample.Start(sopts)
	stopSampling, loadStop := smp.Stop, p.Done()
	var chaos *restarter
	if sc.Chaos.RestartAfter > 0 {
		chaos = startRestarter(ctx, sc.Chaos.RestartAfter, spec, p, smp, sopts)
		loadStop = nil // the target dies on purpose; the flood goes on
	}

	o.Logf("%s c=%d r=%d: flooding %s", tg.Name, level, rep, p.URL(sc.RequestPath(tg)))
	cpu0 := usage.Self()
	usage.ResetPeakRSS()
	var lr *load.Result
	var lerr error
	if sc.Driver == "k6" {
		lerr = runK6(ctx, o, tg, p, level, label, &run)
	} else {
		lr, lerr = load.Run(ctx, loadOptions(sc, tg, p, level, loadStop, func(pr load.Progress) {
			if o.Progress != nil {
				o.Progress(fmt.Sprintf("%s c=%d r=%d  %5.1fs  %6.1f req/s  %7.1f MB/s  rss %s",
					tg.Name, level, rep, pr.Elapsed.Seconds(), float64(pr.Requests)/pr.Elapsed.Seconds(),
					float64(pr.Bytes)/pr.Elapsed.Seconds()/1e6, mib(smp.Latest().RSS)))
			}
		}))
	}
	run.ClientCPUS = usage.Self().Sub(cpu0).Seconds()
	run.ClientPeakRSSBytes = usage.PeakRSS()
	if chaos != nil {
		var sum sample.Summary
		p, sum = chaos.finish()
		defer p.Stop()
		stopSampling = func() sample.Summary { return sum }
		run.Restarts, run.RestartGapS = chaos.restarts, chaos.gap.Seconds()
		if chaos.err != nil {
			run.Error = fmt.Sprintf("restart: %v", chaos.err)
		}
	}
	sum := stopSampling()
	heap.finish(o.Dir, label, &run)
	ex, _ := p.Stop()

	switch {
	case lerr != nil:
		run.Error = lerr.Error()
	case lr != nil && run.Error == "":
		fillLoad(&run, lr)
	}
	run.Exit = result.Exit{Code: ex.Code, Signal: ex.Signal}
	run.OOMKilled = ex.OOMKilled() || watchdogFired
	run.CgroupPeakBytes = ex.CgroupPeak
	run.SampledPeakRSSBytes = sum.Peak.RSS
	run.PeakRSSBytes, run.PeakRSSSource = kernelPeak(sum, ex)
	verdict := ""
	if run.OOMKilled {
		verdict = "  OOM-KILLED"
	}
	o.Logf("%s c=%d r=%d: %d ok / %d requests, peak RSS %s (%s)%s", tg.Name, level, rep, run.OK, run.Requests, mib(run.PeakRSSBytes), run.PeakRSSSource, verdict)
	return run
}

// kernelPeak picks the peak a run reports, and names its source. One
// process: its VmHWM (read while alive) or ru_maxrss (read at reaping, so
// it survives an OOM kill), whichever is larger — the kernel's own peak. A
// process tree under a cgroup: the cgroup's peak charge. Otherwise only the
// sampler's maximum is left, and the source says so.
func kernelPeak(sum sample.Summary, ex target.Exit) (int64, string) {
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
func loadOptions(sc *scenario.Scenario, tg scenario.Target, p *target.Process, level int, stop <-chan struct{}, progress func(load.Progress)) load.Options {
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

func host(cg target.CgroupFS) result.Host {
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
