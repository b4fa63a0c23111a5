package sweep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slices"

	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/heapprof"
	"github.com/floodharness/harness/internal/report"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
	"github.com/floodharness/harness/internal/units"
)

var harnessBin string

// cgroups is where this test process makes its targets' cgroups.
var cgroups *cgroup.Maker

func TestMain(m *testing.M) {
	cgroups = cgroup.System().Prepare()
	code := harnesstest.Main(m, &harnessBin)
	if err := cgroups.Close(); err != nil && code == 0 {
		code = 1
	}
	os.Exit(code)
}

func parse(t *testing.T, yaml string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestPanicMidRunLeavesNoOrphans(t *testing.T) {
	t.Parallel()
	marker := fmt.Sprintf("panic-%d", time.Now().UnixNano())
	sc := parse(t, fmt.Sprintf(`name: p
levels: [1]
duration: 1s
targets:
  - name: s
    command: [%s, serve, --port, "{port}"]
    env: {ORPHAN_MARKER: %s}
`, harnessBin, marker))
	started := false
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the injected panic did not surface")
			}
		}()
		_, _ = Run(context.Background(), Options{
			Scenario: sc, Dir: t.TempDir(), Cgroups: cgroups,
			Logf: func(format string, _ ...any) {
				if strings.Contains(format, "flooding") {
					started = len(harnesstest.Survivors("ORPHAN_MARKER", marker)) == 1
					panic("injected")
				}
			},
		})
	}()
	if !started {
		t.Fatal("the target was not running when the panic hit")
	}
	if pids := harnesstest.Survivors("ORPHAN_MARKER", marker); len(pids) > 0 {
		t.Errorf("target survived a panic in the sweep: %v", pids)
	}
}

func TestNeverHealthyTargetFailsItsRunAndTheSweepGoesOn(t *testing.T) {
	t.Parallel()
	sc := parse(t, fmt.Sprintf(`name: h
levels: [1]
duration: 500ms
targets:
  - name: broken
    command: [/bin/sh, -c, "echo cannot open database >&2; exit 1", "{port}"]
  - name: fine
    command: [%s, serve, --port, "{port}"]
`, harnessBin))
	dir := t.TempDir()
	res, err := Run(context.Background(), Options{Scenario: sc, Dir: dir, Cgroups: cgroups, Logf: t.Logf})
	fe, ok := err.(*FailedError)
	if !ok || fault.KindOf(fe) != fault.RunFailed || len(fe.Failed) != 1 {
		t.Fatalf("Run error %v, want a FailedError for one run", err)
	}
	if len(res.Runs) != 2 || !strings.Contains(res.Runs[0].Error, "cannot open database") || res.Runs[1].Error != "" || res.Runs[1].OK == 0 {
		t.Errorf("runs %+v: want the broken one with its log tail and the fine one measured", res.Runs)
	}
	onDisk, rerr := result.Read(filepath.Join(dir, "results.json"))
	if rerr != nil || len(onDisk.Runs) != 2 || onDisk.Partial {
		t.Errorf("results.json: %v, %+v", rerr, onDisk)
	}
}

func TestWatchdogWithoutCgroups(t *testing.T) {
	t.Parallel()
	// A cgroup filesystem with no memory controller forces the fallback.
	none := cgroup.FS{Root: t.TempDir(), SelfFile: "/nonexistent"}.Prepare()
	sc := parse(t, fmt.Sprintf(`name: w
levels: [8]
duration: 3s
request:
  path: /export?rows=2000&width=4000
memory:
  limit: 64MiB
  sample_interval: 5ms
targets:
  - name: buffered
    command: [%s, serve, --impl, buffered, --port, "{port}"]
`, harnessBin))
	log := &logLines{t: t}
	var told []result.Run
	res, err := Run(context.Background(), Options{Scenario: sc, Dir: t.TempDir(), Cgroups: none, Logf: log.f, Outcome: func(r result.Run) { told = append(told, r) }})
	if err != nil {
		t.Fatal(err)
	}
	run := res.Runs[0]
	if len(told) != 1 || told[0].Target != run.Target || told[0].OOMKilled != run.OOMKilled {
		t.Errorf("Outcome was told %+v, want the one run", told)
	}
	if res.Host.Cgroup != "none" || run.MemoryLimitBy != "watchdog" || !run.OOMKilled || run.Exit.Signal != "SIGKILL" {
		t.Errorf("host cgroup %q, limit by %q, oom %v, exit %+v; want the watchdog to kill at 64 MiB", res.Host.Cgroup, run.MemoryLimitBy, run.OOMKilled, run.Exit)
	}
	// Said once at the start, with the reason, and recorded with the run.
	if n := log.count("WATCHDOG, not a kernel cap: cannot tell which cgroup"); n != 1 {
		t.Errorf("the watchdog fallback was announced %d times, want once:\n%s", n, log)
	}
	if !strings.Contains(run.MemoryLimitNote, "cannot tell which cgroup") || !strings.Contains(run.MemoryLimitNote, "overshoot") {
		t.Errorf("memory_limit_note %q, want the reason and what it means", run.MemoryLimitNote)
	}
}

func TestChaosRestartMidLevel(t *testing.T) {
	t.Parallel()
	marker := fmt.Sprintf("chaos-%d", time.Now().UnixNano())
	sc := parse(t, fmt.Sprintf(`name: chaos
levels: [3]
duration: 2s
grace: 15s
request:
  path: /export?rows=20000&width=256
  validate: json
  timeout: 2s
client:
  resume: true
  # Slow readers: at the kill a client has read ~0.7 MB of a 5.6 MB body and
  # the server can be at most ~4 MB ahead (tcp_wmem max), so every body in
  # flight is cut short, whatever the timing.
  read_rate: 1MiB
  recv_buffer: 64KiB
chaos:
  restart_after: 700ms
targets:
  - name: streamed
    command: [%s, serve, --impl, streamed, --port, "{port}"]
    env: {ORPHAN_MARKER: %s}
`, harnessBin, marker))
	dir := t.TempDir()
	res, err := Run(context.Background(), Options{Scenario: sc, Dir: dir, Cgroups: cgroups, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	run := res.Runs[0]
	if run.Restarts != 1 || run.RestartGapS <= 0 || run.Error != "" {
		t.Fatalf("restarts %d, gap %vs, error %q; want one restart with a measured gap", run.Restarts, run.RestartGapS, run.Error)
	}
	if run.Failed != 0 || run.OK == 0 || run.Resumes == 0 || run.Rows != run.OK*20000 {
		t.Errorf("%d ok, %d failed %v, %d resumes, %d rows; want every export completed across the restart\n%+v", run.OK, run.Failed, run.Errors, run.Resumes, run.Rows, run)
	}
	if _, err := os.Stat(filepath.Join(dir, "logs", "streamed-c3-r0-restart.log")); err != nil {
		t.Errorf("the restarted target's log: %v", err)
	}
	if pids := harnesstest.Survivors("ORPHAN_MARKER", marker); len(pids) > 0 {
		t.Errorf("targets survived the run: %v", pids)
	}
}

// After a chaos restart the watchdog and the heap profile follow the new
// process: here only the restarted one grows past the cap (a marker file
// tells the two starts apart), so only a watchdog watching it can fire.
func TestChaosWatchdogFollowsRestart(t *testing.T) {
	t.Parallel()
	none := cgroup.FS{Root: t.TempDir(), SelfFile: "/nonexistent"}.Prepare()
	dir := t.TempDir()
	started := filepath.Join(dir, "started-once")
	sc := parse(t, fmt.Sprintf(`name: chaos-watchdog
levels: [2]
duration: 3s
request:
  path: /export?rows=200&width=256
memory:
  limit: 96MiB
  sample_interval: 5ms
  heap_profile: end
chaos:
  restart_after: 500ms
targets:
  - name: grows-after-restart
    command: [sh, -c, 'if [ -e %[2]s ]; then exec %[1]s serve --impl streamed --retain-bytes 128MiB --port {port}; fi; touch %[2]s; exec %[1]s serve --impl streamed --port {port}']
    pprof: /debug/pprof/heap
`, harnessBin, started))
	res, err := Run(context.Background(), Options{Scenario: sc, Dir: dir, Cgroups: none, Logf: t.Logf})
	var failed *FailedError
	if err != nil && !errors.As(err, &failed) {
		t.Fatal(err)
	}
	run := res.Runs[0]
	if run.Restarts != 1 || run.MemoryLimitBy != "watchdog" || !run.OOMKilled || run.Exit.Signal != "SIGKILL" {
		t.Errorf("restarts %d, limit by %q, oom %v, exit %+v; want the watchdog to kill the restarted process at the cap",
			run.Restarts, run.MemoryLimitBy, run.OOMKilled, run.Exit)
	}
}

// With chaos, the end-of-flood heap profile comes from the process serving
// at the end, not from the one the chaos killed.
func TestChaosHeapProfileFromRestarted(t *testing.T) {
	t.Parallel()
	sc := parse(t, fmt.Sprintf(`name: chaos-heap
levels: [1]
duration: 1500ms
request:
  path: /export?rows=200&width=256
memory:
  heap_profile: end
chaos:
  restart_after: 300ms
targets:
  - name: streamed
    command: [%s, serve, --impl, streamed, --port, "{port}"]
    pprof: /debug/pprof/heap
`, harnessBin))
	dir := t.TempDir()
	res, err := Run(context.Background(), Options{Scenario: sc, Dir: dir, Cgroups: cgroups, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	run := res.Runs[0]
	if run.Restarts != 1 || run.HeapProfileAt != "end" || run.HeapProfile == "" {
		t.Fatalf("restarts %d, heap profile %q at %q; want one from the restarted process", run.Restarts, run.HeapProfile, run.HeapProfileAt)
	}
	// A heap profile it is; its top may be empty: a streamed server's ~1 MiB
	// of live heap can escape Go's sampling (one per 512 KiB on average).
	b, err := os.ReadFile(filepath.Join(dir, run.HeapProfile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := heapprof.Top(b, 10); err != nil {
		t.Errorf("%s: %v", run.HeapProfile, err)
	}
}

func TestProgramsResolve(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	self := filepath.Join(dir, "harness")
	without := ProgramsIn(dir, self)
	if err := os.WriteFile(filepath.Join(dir, "harness-serve"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	with := ProgramsIn(dir, self)
	for _, tt := range []struct {
		p    Programs
		argv []string
		want []string
	}{
		{with, []string{"harness", "serve", "--port", "{port}"}, []string{filepath.Join(dir, "harness-serve"), "--port", "{port}"}},
		{without, []string{"harness", "serve", "--port", "{port}"}, []string{self, "serve", "--port", "{port}"}},
		{with, []string{"harness", "load", "x"}, []string{self, "load", "x"}},
		{with, []string{"python3", "app.py"}, []string{"python3", "app.py"}},
		{with, []string{"/opt/harness", "serve"}, []string{"/opt/harness", "serve"}},
	} {
		if got := tt.p.resolve(tt.argv); !slices.Equal(got, tt.want) {
			t.Errorf("resolve(%q) = %q, want %q", tt.argv, got, tt.want)
		}
	}
}

// logLines is a sweep's log, kept for assertions and shown with the test.
type logLines struct {
	t     *testing.T
	lines []string
}

func (l *logLines) f(format string, args ...any) {
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.t.Logf(format, args...)
}

// count is how many lines hold sub.
func (l *logLines) count(sub string) int {
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			n++
		}
	}
	return n
}

func (l *logLines) String() string { return strings.Join(l.lines, "\n") }

// A target the kernel OOM-kills before chaos restarts it was OOM-killed:
// the killed process's end is kept, and its RSS series goes on past the
// restart in the same file.
func TestChaosKeepsTheKilledProcesssEnd(t *testing.T) {
	t.Parallel()
	if !cgroups.Available() {
		t.Skip("no cgroup can be made here: " + cgroups.Why())
	}
	dir := t.TempDir()
	started := filepath.Join(dir, "started-once")
	sc := parse(t, fmt.Sprintf(`name: chaos-oom
levels: [4]
duration: 4s
request:
  path: /export?rows=200&width=256
memory:
  limit: 64MiB
  sample_interval: 10ms
  heap_profile: "off"
chaos:
  restart_after: 2s
targets:
  - name: dies-first
    command: [sh, -c, 'if [ -e %[2]s ]; then exec %[1]s serve --impl streamed --port {port}; fi; touch %[2]s; exec %[1]s serve --impl streamed --retain-bytes 128MiB --port {port}']
`, harnessBin, started))
	log := &logLines{t: t}
	res, err := Run(context.Background(), Options{Scenario: sc, Dir: dir, Cgroups: cgroups, Logf: log.f})
	var failed *FailedError
	if err != nil && !errors.As(err, &failed) {
		t.Fatal(err)
	}
	// The cap is announced once, with where the cgroups are made.
	if n := log.count("memory.limit 64MiB: a memory cgroup per target (" + cgroups.Mode() + "); the kernel OOM-kills at the cap"); n != 1 {
		t.Errorf("the kernel cap was announced %d times, want once:\n%s", n, log)
	}
	run := res.Runs[0]
	if run.Restarts != 1 || !run.OOMKilled || run.MemoryLimitBy != "cgroup" || run.CgroupPeakBytes < 32<<20 {
		t.Errorf("restarts %d, oom %v, limit by %q, cgroup peak %d; want the first process's kernel OOM kill kept",
			run.Restarts, run.OOMKilled, run.MemoryLimitBy, run.CgroupPeakBytes)
	}
	b, err := os.ReadFile(filepath.Join(dir, run.RSSSeries))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var last float64
	fmt.Sscanf(lines[len(lines)-1], "%f,", &last)
	if strings.Count(string(b), "elapsed_ms") != 1 || last < 2500 {
		t.Errorf("series has %d headers and ends at %.0f ms; want one header and samples past the 2 s restart", strings.Count(string(b), "elapsed_ms"), last)
	}
}

// A pre-fork target (a parent holding 96 MiB that 3 workers share
// copy-on-write) is measured as what it holds, about one block — with a
// cgroup (its anonymous memory) and without (the sum of PSS) — where the
// sum of its processes' RSS said about four, and its idle figure in the
// same measure.
func TestPreforkIsNotCountedPerProcess(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs it", "python3")
	none := cgroup.FS{Root: t.TempDir(), SelfFile: "/nonexistent"}.Prepare()
	for _, tt := range []struct {
		name   string
		cg     *cgroup.Maker
		source result.PeakSource
	}{{"cgroup", cgroups, result.PeakCgroupAnon}, {"no cgroup", none, result.PeakPSS}} {
		if !tt.cg.Available() && tt.cg == cgroups {
			t.Logf("%s: no cgroup can be made here", tt.name)
			continue
		}
		sc := parse(t, `name: prefork
levels: [2]
duration: 1s
targets:
  - name: prefork
    command: [python3, testdata/prefork.py, "{port}", "96", "3"]
    heap: off # memory accounting is what these measure: no heap: auto repeat
`)
		res, err := Run(context.Background(), Options{Scenario: sc, Dir: t.TempDir(), Cgroups: tt.cg, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		run := res.Runs[0]
		const block = 96 << 20
		if run.PeakRSSSource != tt.source || run.PeakRSSBytes < block || run.PeakRSSBytes > block*5/4+16<<20 ||
			run.IdleRSSBytes < block || run.IdleRSSBytes > run.PeakRSSBytes+8<<20 || run.SampledPeakRSSBytes < 3*block {
			t.Errorf("%s: peak %.1f MiB (%s), idle %.1f MiB, summed RSS %.1f MiB; want the peak and idle about one 96 MiB block, from %s, where summed RSS is about four",
				tt.name, units.MiB(run.PeakRSSBytes), run.PeakRSSSource, units.MiB(run.IdleRSSBytes), units.MiB(run.SampledPeakRSSBytes), tt.source)
		}
		// Each process's own figure is kept beside the tree's.
		var sum int64
		for _, pm := range run.PeakProcesses {
			sum += pm.RSSBytes
		}
		if len(run.PeakProcesses) != 4 || sum < 3*block {
			t.Errorf("%s: peak processes %+v; want the parent and 3 workers, each with the shared block resident", tt.name, run.PeakProcesses)
		}
	}
}

// A pre-fork target whose workers the kernel kills at the cap while the
// master lives and respawns them: the run counts the deaths and says the
// main process lived, and the report says so in words.
func TestWorkerDeathsInsideATarget(t *testing.T) {
	t.Parallel()
	if !cgroups.Available() {
		t.Skip("no cgroup can be made here: " + cgroups.Why())
	}
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs it", "python3")
	sc := parse(t, `name: dying
levels: [1, 2, 8]
duration: 3s
requests: 2
memory:
  limit: 96MiB
targets:
  - name: prefork
    command: [python3, testdata/prefork_dying.py, "{port}", "3"]
    heap: off # memory accounting is what these measure: no heap: auto repeat
`)
	res, err := Run(context.Background(), Options{Scenario: sc, Dir: t.TempDir(), Cgroups: cgroups, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	run := res.Runs[2]
	if !run.OOMKilled || run.OOMKills == 0 || run.DiedProcesses == 0 || !run.MainLived {
		t.Errorf("oom %v, oom kills %d, died %d, main lived %v; want workers OOM-killed and counted, the master alive",
			run.OOMKilled, run.OOMKills, run.DiedProcesses, run.MainLived)
	}
	// The report a person reads: the deaths, what the endpoint would have
	// needed at 8 clients, and how many downloads the cap holds.
	v := report.Verdicts(res)[0].Text
	for _, want := range []string{"OOM-killed at 8 clients", "worker process(es) died", "the main process lived", "it would need ~", "under 96 MiB this endpoint holds ~"} {
		if !strings.Contains(v, want) {
			t.Errorf("verdict %q does not say %q", v, want)
		}
	}
	t.Log(v)
}

// The watchdog judges the one measure, not summed RSS: a pre-fork target
// sharing 96 MiB copy-on-write with 3 workers (summed RSS ~384 MiB, its
// real memory ~100) under a 256 MiB cap enforced by the watchdog lives,
// and the series records the measure it was judged by.
func TestWatchdogJudgesTheOneMeasure(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs it", "python3")
	none := cgroup.FS{Root: t.TempDir(), SelfFile: "/nonexistent"}.Prepare()
	sc := parse(t, `name: prefork-watchdog
levels: [2]
duration: 2s
memory:
  limit: 256MiB
targets:
  - name: prefork
    command: [python3, testdata/prefork.py, "{port}", "96", "3"]
    heap: off # memory accounting is what these measure: no heap: auto repeat
`)
	dir := t.TempDir()
	res, err := Run(context.Background(), Options{Scenario: sc, Dir: dir, Cgroups: none, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	run := res.Runs[0]
	if run.MemoryLimitBy != result.LimitWatchdog || run.OOMKilled || run.SampledPeakRSSBytes < 256<<20 || run.PeakRSSBytes >= 256<<20 {
		t.Errorf("limit by %s, killed %v, summed RSS %.1f MiB, one measure %.1f MiB (%s): want the watchdog to spare what is below the cap",
			run.MemoryLimitBy, run.OOMKilled, units.MiB(run.SampledPeakRSSBytes), units.MiB(run.PeakRSSBytes), run.PeakRSSSource)
	}
	series, err := os.ReadFile(filepath.Join(dir, run.RSSSeries))
	if err != nil || !strings.HasPrefix(string(series), "elapsed_ms,rss_bytes,hwm_bytes,procs,cgroup_bytes,cgroup_anon_bytes,memory_bytes\n") {
		t.Errorf("series %v:\n%.200s", err, series)
	}
}

// An interrupt during the settle after a level keeps the level's flood,
// marked interrupted, without the settle's figures; the levels after it
// are not run.
func TestInterruptInTheSettleKeepsTheFlood(t *testing.T) {
	t.Parallel()
	sc := parse(t, fmt.Sprintf(`name: settle
levels: [1, 2]
duration: 1s
grace: 1s
memory: {settle: 60s, heap_profile: "off"}
targets:
  - name: streamed
    command: [%s, serve, --impl, streamed, --port, "{port}"]
`, harnessBin))
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The series file grows while the flood is sampled and stops with it:
	// once it has not grown for half a second, the settle is on.
	go func() {
		series := filepath.Join(dir, "series", "streamed-c1-r0.csv")
		var last int64 = -1
		for quiet := 0; quiet < 5; time.Sleep(100 * time.Millisecond) {
			st, err := os.Stat(series)
			switch {
			case err != nil || st.Size() == 0:
			case st.Size() == last:
				quiet++
			default:
				last, quiet = st.Size(), 0
			}
		}
		cancel()
	}()
	res, err := Run(ctx, Options{Scenario: sc, Dir: dir, Logf: (&logLines{t: t}).f})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want it interrupted", err)
	}
	onDisk, rerr := result.Read(filepath.Join(dir, "results.json"))
	if rerr != nil || len(onDisk.Runs) != 1 || len(res.Runs) != 1 {
		t.Fatalf("results.json: %v, %d runs (returned %d); want the one flood", rerr, len(onDisk.Runs), len(res.Runs))
	}
	if run := onDisk.Runs[0]; !run.Interrupted || run.OK == 0 || run.PeakRSSBytes <= 0 || run.AfterRSSBytes != 0 {
		t.Errorf("the kept run: interrupted %v, %d ok, peak %d, after %d; want the flood's figures without the settle's", run.Interrupted, run.OK, run.PeakRSSBytes, run.AfterRSSBytes)
	}
}
