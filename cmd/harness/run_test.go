package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/heaphook"
	"github.com/floodharness/harness/internal/heapprof"
	"github.com/floodharness/harness/internal/result"
	"github.com/google/go-cmp/cmp"
)

// harnessRun runs the real binary from the module root (scenarios name
// paths relative to it) and returns its exit code, stdout and stderr.
func harnessRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return harnessRunIn(t, "../..", args...)
}

// harnessRunIn is harnessRun from dir.
func harnessRunIn(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	return runHarness(t, dir, nil, args...)
}

// harnessRunEnv is harnessRun with variables added to the environment.
func harnessRunEnv(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	return runHarness(t, "../..", env, args...)
}

func runHarness(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := harnesstest.Command(harnessBin, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

func readResults(t *testing.T, dir string) *result.Results {
	t.Helper()
	r, err := result.Read(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func only(t *testing.T, r *result.Results, tg string, level int) result.Run {
	t.Helper()
	runs := r.Select(tg, level)
	if len(runs) != 1 {
		t.Fatalf("%d runs of %s at c=%d, want 1", len(runs), tg, level)
	}
	return runs[0]
}

func TestRunQuickStreamedFlatBufferedGrows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, stdout, stderr := harnessRun(t, "run", "--out", dir, "scenarios/quick.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	r := readResults(t, dir)
	if r.Partial || r.FinishedAt == nil || len(r.Runs) != 4 || r.Host.CPUs < 1 {
		t.Fatalf("results: partial=%v finished=%v, %d runs, host %+v", r.Partial, r.FinishedAt, len(r.Runs), r.Host)
	}
	top := r.Levels()[len(r.Levels())-1]
	buf, str := only(t, r, "buffered", top), only(t, r, "streamed", top)
	t.Logf("c=%d: buffered peak %d MiB, streamed %d MiB", top, buf.PeakRSSBytes>>20, str.PeakRSSBytes>>20)
	if buf.PeakRSSBytes < 5*str.PeakRSSBytes {
		t.Errorf("at c=%d buffered peak %d < 5 × streamed peak %d", top, buf.PeakRSSBytes, str.PeakRSSBytes)
	}
	for _, run := range r.Runs {
		if run.OK == 0 || run.Failed != 0 || run.Rows != run.OK*2000 || run.PeakRSSSource != "vmhwm" || run.PeakRSSBytes < run.SampledPeakRSSBytes {
			t.Errorf("%s c=%d: ok %d failed %d rows %d, peak %d (%s) vs sampled %d", run.Target, run.Concurrency, run.OK, run.Failed, run.Rows, run.PeakRSSBytes, run.PeakRSSSource, run.SampledPeakRSSBytes)
		}
		for _, f := range []string{run.Log, run.RSSSeries, run.HeapProfile} {
			if st, err := os.Stat(filepath.Join(dir, f)); f == "" || err != nil || st.Size() == 0 {
				t.Errorf("%s c=%d: file %q missing or empty", run.Target, run.Concurrency, f)
			}
		}
		// Go samples one allocation per 512 KiB on average: a buffered
		// server's tens of MiB always show in its heap top, a streamed one's
		// ~1 MiB of live heap sometimes not at all (seen in CI), so only the
		// profile file is required of it.
		if (run.Target == "buffered" && len(run.HeapTop) == 0) || run.ClientCPUSeconds <= 0 || run.ClientPeakRSSBytes <= 0 || run.IdleRSSBytes <= 0 {
			t.Errorf("%s c=%d: heap top %d entries, client cpu %v, client peak %d, idle %d", run.Target, run.Concurrency, len(run.HeapTop), run.ClientCPUSeconds, run.ClientPeakRSSBytes, run.IdleRSSBytes)
		}
	}
	if !strings.Contains(stdout, "peak RSS (MiB)") || !strings.Contains(stdout, "results: "+dir) || !strings.Contains(stdout, "report: "+filepath.Join(dir, "report.html")) {
		t.Errorf("stdout lacks the table, the results path or the report path:\n%s", stdout)
	}
	// `harness report` re-renders the same bytes from results.json alone.
	before := map[string][]byte{}
	for _, f := range []string{"report.html", "summary.md", "peak_rss.svg", "peak_rss.png", "rss_timeline.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		before[f] = b
	}
	if code, _, stderr := harnessRun(t, "report", filepath.Join(dir, "results.json"), "--out", dir); code != 0 {
		t.Fatalf("harness report: exit %d\n%s", code, stderr)
	}
	for f, b := range before {
		if after, _ := os.ReadFile(filepath.Join(dir, f)); !bytes.Equal(after, b) {
			t.Errorf("%s changed when re-rendered from results.json", f)
		}
	}
	if code, _, _ := harnessRun(t, "report", filepath.Join(dir, "missing.json")); code != 2 {
		t.Errorf("harness report of a missing file: exit %d, want 2", code)
	}
}

func TestRunBadScenarioExit2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: bad\nlevels: [1]\nduration: forever\ntargets:\n  - name: a\n    command: [harness, serve]\n"), 0o644)
	code, _, stderr := harnessRun(t, "run", "--out", filepath.Join(dir, "out"), bad)
	if code != 2 || !strings.Contains(stderr, bad+":3: duration:") || !strings.Contains(stderr, bad+":6: targets[0].command: no argument contains {port}") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 naming %s:3 duration and :6 command", code, stderr, bad)
	}
	for _, args := range [][]string{
		{"run", "scenarios/quick.yaml", "--targets", "nope"},
		{"run", "--targets", "nope", "scenarios/quick.yaml"},
		{"run", "--levels", "0", "scenarios/quick.yaml"},
		{"run"},
	} {
		if code, _, stderr := harnessRun(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, stderr)
		}
	}
}

// Mistakes that would only show after the sweep are refused before it
// starts: a level given twice (its runs would overwrite each other's log
// and series) and a gate rule that cannot be applied.
func TestRunRefusesBeforeFlooding(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badRule := filepath.Join(dir, "rule.yaml")
	os.WriteFile(badRule, []byte("name: r\nlevels: [1]\ntargets:\n  - name: a\n    command: [harness, serve, --port, \"{port}\"]\n"+
		"gate:\n  rules:\n    - {metric: peak_rss_bytes, tolerance: lots}\n    - {metric: ok_ratio, min: 1, target: b}\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--levels", "4,4", "scenarios/quick.yaml"}, []string{"--levels (levels[1]): concurrency 4 given twice"}},
		{[]string{"run", "--levels", "1,x", "scenarios/quick.yaml"}, []string{`invalid value "1,x" for flag -levels`}},
		{[]string{"run", badRule}, []string{badRule + `:8: tolerance: "lots"`, badRule + `:9: target "b": not in the scenario`}},
	} {
		out := filepath.Join(dir, "out")
		code, _, stderr := harnessRun(t, append(tt.args, "--out", out)...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", tt.args, code, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%q: stderr does not say %q:\n%s", tt.args, w, stderr)
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%q: the run directory was made: nothing should have run", tt.args)
		}
	}
}

func TestRunExternalTarget(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs it", "python3")
	dir := t.TempDir()
	code, _, stderr := harnessRun(t, "run", "--out", dir, "cmd/harness/testdata/external.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	run := only(t, readResults(t, dir), "python", 2)
	if run.OK == 0 || run.Failed != 0 || run.Rows != run.OK*500 || run.PeakRSSBytes <= 0 {
		t.Errorf("python target: ok %d failed %d rows %d peak %d", run.OK, run.Failed, run.Rows, run.PeakRSSBytes)
	}
}

func TestRunInterruptLeavesNoOrphans(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			interruptMidRun(t, sig)
		})
	}
}

// interruptMidRun sends sig to a harness run mid-flood and checks that it
// exits 3 saying so, leaves no target behind and keeps a partial run.
func interruptMidRun(t *testing.T, sig syscall.Signal) {
	dir := t.TempDir()
	marker := fmt.Sprintf("%s-%d", sig, time.Now().UnixNano())
	sc := filepath.Join(dir, "long.yaml")
	os.WriteFile(sc, []byte(`name: long
levels: [2, 4]
duration: 60s
targets:
  - name: streamed
    command: [harness, serve, --impl, streamed, --port, "{port}"]
    env: {ORPHAN_MARKER: `+marker+`}
`), 0o644)
	out := filepath.Join(dir, "out")
	cmd := harnesstest.Command(harnessBin, "run", "--out", out, sc)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	deadline := time.Now().Add(30 * time.Second)
	for len(harnesstest.Survivors("ORPHAN_MARKER", marker)) == 0 || !strings.Contains(stderr.String(), "flooding") {
		if time.Now().After(deadline) {
			t.Fatalf("the target never started flooding:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // mid-flood
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("after %s: %v, stderr:\n%s\nwant exit 3 saying interrupted", sig, err, stderr.String())
	}
	if pids := harnesstest.Survivors("ORPHAN_MARKER", marker); len(pids) > 0 {
		t.Errorf("targets survived %s of the harness: %v", sig, pids)
	}
	r := readResults(t, out)
	if !r.Partial || r.FinishedAt != nil {
		t.Errorf("results after %s: partial=%v finished=%v, want a partial run kept", sig, r.Partial, r.FinishedAt)
	}
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runAdmissionPair runs a capped scenario and checks the reservation story:
// the early-release target is OOM-killed (or fails most requests) while the
// held one serves every request below the cap. It returns the results.
func runAdmissionPair(t *testing.T, scenario, early, held string, clients int) *result.Results {
	t.Helper()
	if cgroup.System().Version() == "none" {
		t.Skip("no writable memory cgroup controller here, so no real cap to test against")
	}
	dir := t.TempDir()
	code, stdout, stderr := harnessRun(t, "run", "--out", dir, scenario)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	t.Log("\n" + stdout)
	r := readResults(t, dir)
	e, h := only(t, r, early, clients), only(t, r, held, clients)
	if !e.OOMKilled && e.OK > e.Requests/2 {
		t.Errorf("%s: oom=%v, %d of %d ok; want it OOM-killed or failing most requests", early, e.OOMKilled, e.OK, e.Requests)
	}
	if h.OOMKilled || h.Failed != 0 || h.OK+h.Aborted != int64(clients) || h.PeakRSSBytes >= h.MemoryLimitBytes {
		t.Errorf("%s: oom=%v, %d ok + %d aborted of %d, failed %d %v, peak %d MiB under a %d MiB cap; want every request served below the cap",
			held, h.OOMKilled, h.OK, h.Aborted, clients, h.Failed, h.Errors, h.PeakRSSBytes>>20, h.MemoryLimitBytes>>20)
	}
	return r
}

// The reservation bug, shown end to end under a real memory cap.
func TestRunAdmissionUnderCap(t *testing.T) {
	t.Parallel()
	runAdmissionPair(t, "cmd/harness/testdata/admission-small.yaml", "early-release", "held", 40)
	dir := t.TempDir()
	code, _, stderr := harnessRun(t, "run", "--out", dir, "cmd/harness/testdata/admission-reject-small.yaml")
	if reject := only(t, readResults(t, dir), "reject", 40); code != 0 || reject.OOMKilled || reject.OK == 0 || reject.Errors["status_503"] == 0 || reject.Exit.Signal != "" {
		t.Errorf("reject: exit %d, oom=%v, %d ok, errors %v, exit %+v; want some served, 503s and no death\n%s", code, reject.OOMKilled, reject.OK, reject.Errors, reject.Exit, stderr)
	}
}

// The first run of a new user: their own Python service, health on /health,
// no YAML written by hand. The run keeps the scenario it ran as a file.
func TestQuickRunAgainstAPythonServer(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	code, stdout, stderr := harnessRun(t, "run", "--cmd", "py=python3 cmd/harness/testdata/app.py {port} /health 2000 200",
		"--health", "/health", "--levels", "1,4", "--duration", "2s", "--limit", "256MiB", "--name", "pyapp", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	r := readResults(t, out)
	for _, l := range []int{1, 4} {
		run := only(t, r, "py", l)
		if run.OK == 0 || run.Failed != 0 || run.PeakRSSBytes <= 0 || run.MemoryLimitBytes != 256<<20 {
			t.Errorf("c=%d: %d ok, %d failed, peak %d, limit %d", l, run.OK, run.Failed, run.PeakRSSBytes, run.MemoryLimitBytes)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "report.html")); err != nil {
		t.Error(err)
	}
	// The scenario it ran is there to repeat and commit, and says what ran.
	b, err := os.ReadFile(filepath.Join(out, "scenario.yaml"))
	if err != nil || r.Scenario.File != filepath.Join(out, "scenario.yaml") ||
		!strings.Contains(string(b), "command: [python3, cmd/harness/testdata/app.py, \"{port}\", /health, \"2000\", \"200\"]") || !strings.Contains(string(b), "health: /health") {
		t.Errorf("scenario.yaml (%v, results name %q):\n%s", err, r.Scenario.File, b)
	}
	// The health path left at the default fails fast and says which key to set.
	code, _, stderr = harnessRun(t, "run", "--cmd", "python3 cmd/harness/testdata/app.py {port} /health", "--health", "/healthz",
		"--levels", "1", "--duration", "1s", "--out", t.TempDir())
	if code != 3 || !strings.Contains(stderr, "/healthz → 404 for 3s; set --health to a path") {
		t.Errorf("wrong health path: exit %d\n%s", code, stderr)
	}
}

// harness init writes a scenario that runs unchanged (here against the
// reference server it names when no --cmd is given; levels and duration
// shortened on the command line, the file untouched), and never overwrites.
func TestInitRunsUnchanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "flood.yaml")
	if code, _, stderr := harnessRun(t, "init", "--out", file); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	before, _ := os.ReadFile(file)
	out := filepath.Join(dir, "run")
	if code, stdout, stderr := harnessRun(t, "run", file, "--levels", "1,2", "--duration", "2s", "--out", out); code != 0 {
		t.Fatalf("run of the init'd file: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if r := readResults(t, out); len(r.Runs) != 2 || r.Runs[1].OK == 0 || r.Runs[1].MemoryLimitBytes != 512<<20 {
		t.Errorf("runs %+v", r.Runs)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Error("the run changed the scenario file")
	}
	if code, _, stderr := harnessRun(t, "init", "--out", file); code != 2 || !strings.Contains(stderr, "not overwritten") {
		t.Errorf("init over an existing file: exit %d, %s", code, stderr)
	}
}

// A target with a fixed port gets it at every level, so load from
// elsewhere knows where to go: each level's fresh server binds it again.
func TestFixedPortEveryLevel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := freeTestPort(t)
	sc := filepath.Join(dir, "fixed.yaml")
	os.WriteFile(sc, []byte(fmt.Sprintf(`name: fixed-port
levels: [1, 2]
duration: 1s
targets:
  - name: streamed
    command: [harness, serve, --impl, streamed, --port, "{port}"]
    port: %d
gate:
  rules:
    - {metric: oom, oom: never}
`, port)), 0o644)
	out := filepath.Join(dir, "out")
	code, _, stderr := harnessRun(t, "run", "--out", out, "--duration", "2s", sc)
	want := fmt.Sprintf("flooding http://127.0.0.1:%d/", port)
	if code != 0 || strings.Count(stderr, want) != 2 {
		t.Errorf("exit %d; want both levels %q:\n%s", code, want, stderr)
	}
	// A file's run keeps the file it read, headed by the flags laid over
	// it, so gate --rules RUN/scenario.yaml works on any run directory.
	kept, err := os.ReadFile(filepath.Join(out, "scenario.yaml"))
	if err != nil || !strings.Contains(string(kept), "port: "+strconv.Itoa(port)) || !strings.Contains(string(kept), "--duration 2s") {
		t.Errorf("kept scenario (%v):\n%s", err, kept)
	}
	// Its results record those flags: compare and the gate say when two
	// runs of one file had others.
	if r := readResults(t, out); !slices.Equal(r.Scenario.Flags, []string{"--duration", "2s"}) {
		t.Errorf("results' scenario.flags %q, want the flags laid over the file", r.Scenario.Flags)
	}
	if code, _, stderr := harnessRun(t, "gate", "--current", filepath.Join(out, "results.json"), "--rules", filepath.Join(out, "scenario.yaml"), "--update-baseline", "--baseline", filepath.Join(dir, "base.json")); code != 0 {
		t.Errorf("gate --rules RUN/scenario.yaml: exit %d\n%s", code, stderr)
	}
}

// A slow, correct server is measured, not declared dead: answers that
// outlast a fixed level are counted as cut off mid-stream (exit 0, the
// peak stands, the console says so), and duration auto waits for every
// client's whole answer.
func TestSlowAnswersAreMeasured(t *testing.T) {
	t.Parallel()
	// ~2 MB answers read at 256 KiB/s: ~8 s each, longer than the level
	// and its 5 s grace.
	args := []string{"run", "--cmd", "slow=harness serve --impl streamed --port {port}", "--health", "/healthz", "--path", "/export?rows=2000&width=1000",
		"--levels", "2", "--read-rate", "256KiB", "--recv-buffer", "64KiB", "--limit", "0"}
	fixed := t.TempDir()
	code, stdout, stderr := harnessRun(t, append(args, "--duration", "1s", "--out", fixed)...)
	run := only(t, readResults(t, fixed), "slow", 2)
	if code != 0 || run.Error != "" || run.OK != 0 || run.CutOff != 2 || run.PeakRSSBytes <= 0 || !strings.Contains(stderr, "2 cut off when the level ended (still streaming") {
		t.Errorf("a fixed 1s level: exit %d, error %q, %d ok, %d cut off, peak %d\n%s\n%s", code, run.Error, run.OK, run.CutOff, run.PeakRSSBytes, stdout, stderr)
	}
	auto := t.TempDir()
	code, stdout, stderr = harnessRun(t, append(args, "--duration", "auto", "--out", auto)...)
	run = only(t, readResults(t, auto), "slow", 2)
	if code != 0 || run.OK < 2 || run.Failed != 0 || !strings.Contains(stderr, "an answer took") {
		t.Errorf("duration auto: exit %d, %d ok, %d failed, %d cut off\n%s\n%s", code, run.OK, run.Failed, run.CutOff, stdout, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(auto, "scenario.yaml")); err != nil || !strings.Contains(string(b), "duration: auto") {
		t.Errorf("the kept scenario does not say duration auto: %v\n%s", err, b)
	}
}

// A server nobody here wrote, as APIs answer: health is a 204, the answer
// an object holding the rows, gzipped for a client that asks. Checked as
// JSON with rows: data, every answer is valid with its 2000 rows, decoded
// from its gzip; the same answer broken at byte 40 names that byte (of
// the decoded body) in results.json and on the console.
func TestAnObjectAnswerIsValidJSON(t *testing.T) {
	t.Parallel()
	args := []string{"run", "--cmd", "api=python3 cmd/harness/testdata/objects.py {port}", "--health", "/ping",
		"--levels", "2", "--duration", "1s", "--validate", "json", "--rows", "data", "--limit", "0", "--read-rate", "0", "--compressed"}
	good := t.TempDir()
	code, stdout, stderr := harnessRun(t, append(args, "--path", "/query", "--out", good)...)
	run := only(t, readResults(t, good), "api", 2)
	if code != 0 || run.OK == 0 || run.Failed != 0 || run.Rows != run.OK*2000 || run.BytesDecoded < 5*run.BytesReceived {
		t.Errorf("an object answer, gzipped: exit %d, %d ok, %d failed %v, %d rows, %d bytes received, %d decoded\n%s\n%s",
			code, run.OK, run.Failed, run.Errors, run.Rows, run.BytesReceived, run.BytesDecoded, stdout, stderr)
	}
	// A Python server the harness started gets heap: auto by default: its
	// runtime found, the evidence from a repeat of its own.
	if run.Runtime != "python" || !strings.HasPrefix(run.HeapMechanism, "tracemalloc") {
		t.Errorf("runtime %q, heap mechanism %q: want heap: auto by default for a Python server", run.Runtime, run.HeapMechanism)
	}
	broken := t.TempDir()
	code, _, stderr = harnessRun(t, append(args, "--path", "/broken", "--out", broken)...)
	run = only(t, readResults(t, broken), "api", 2)
	if code != 3 || len(run.FailureReasons) == 0 || !strings.HasPrefix(run.FailureReasons[0].Reason, "byte 40: ") ||
		!strings.Contains(stderr, "why invalid_body failed") || !strings.Contains(stderr, "byte 40: ") {
		t.Errorf("a body broken at byte 40: exit %d, reasons %+v\n%s", code, run.FailureReasons, stderr)
	}
}

// The reference server compresses where asked (harness serve --compress):
// a compressed flood checks the decoded bodies, and results.json counts
// the bytes on the wire and decoded apart.
func TestCompressedFlood(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	code, stdout, stderr := harnessRun(t, "run", "--cmd", "zstd=harness serve --impl streamed --compress zstd --port {port}", "--health", "/healthz",
		"--path", "/export?rows=2000", "--levels", "2", "--duration", "1s", "--validate", "json", "--compressed", "--limit", "0", "--read-rate", "0", "--out", out)
	run := only(t, readResults(t, out), "zstd", 2)
	if code != 0 || run.OK == 0 || run.Failed != 0 || run.Rows != run.OK*2000 || run.BytesDecoded <= 2*run.BytesReceived {
		t.Errorf("exit %d, %d ok, %d failed %v, %d rows, %d bytes received, %d decoded\n%s\n%s",
			code, run.OK, run.Failed, run.Errors, run.Rows, run.BytesReceived, run.BytesDecoded, stdout, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(out, "scenario.yaml")); err != nil || !strings.Contains(string(b), "compressed: true") {
		t.Errorf("the kept scenario does not say compressed: %v\n%s", err, b)
	}
}

// A server whose memory is a mapped file that another process put in the
// page cache (a database's mmapped blocks): its VmHWM counts the file's
// pages, its cgroup's charge does not. The peak is split into anonymous
// and file-backed memory, and the verdict compares the cap with what it
// charged, saying what the peak counts beside it.
func TestThePeakTheCapCounts(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs it", "python3")
	data := filepath.Join(t.TempDir(), "blocks")
	if err := os.WriteFile(data, bytes.Repeat([]byte{1}, 96<<20), 0o644); err != nil { // page cache charged to the test
		t.Fatal(err)
	}
	out := t.TempDir()
	code, stdout, stderr := harnessRun(t, "run", "--cmd", "db=python3 cmd/harness/testdata/mmapped.py {port} "+data, "--health", "/health",
		"--levels", "1,2", "--duration", "1s", "--limit", "256MiB", "--read-rate", "0", "--validate", "json", "--out", out)
	r := readResults(t, out)
	run := only(t, r, "db", 2)
	if code != 0 || run.PeakRSSFileBytes < 90<<20 || run.PeakRSSAnonBytes <= 0 || run.PeakRSSAnonBytes+run.PeakRSSFileBytes != run.SampledPeakRSSBytes {
		t.Errorf("exit %d, sampled peak %d = anon %d + file %d\n%s\n%s", code, run.SampledPeakRSSBytes, run.PeakRSSAnonBytes, run.PeakRSSFileBytes, stdout, stderr)
	}
	if !run.CapCountsOtherwise() {
		t.Skipf("the cap's charge is not read here (limit by %s): nothing to compare", run.MemoryLimitBy)
	}
	if run.CgroupPeakBytes > run.PeakRSSBytes-64<<20 || !strings.Contains(stderr, "of it file-backed, the cgroup charged") {
		t.Errorf("cgroup charge %d, VmHWM %d: want the mapped file's pages outside the charge, and the console to say so\n%s", run.CgroupPeakBytes, run.PeakRSSBytes, stderr)
	}
	summary, _ := os.ReadFile(filepath.Join(out, "summary.md"))
	if !strings.Contains(string(summary), "highest cgroup charge") || !strings.Contains(string(summary), "counts file pages the cap never charged") {
		t.Errorf("summary.md does not compare the cap with its charge:\n%s", summary)
	}
}

// A server with sessions nobody here wrote: each client logs in (its
// password from the environment, never written), sends the token its
// login answered and the cookie it set, and logs in again when the server
// ends its session with a 401: every request served, the re-logins
// counted. A ${login.NAME} with no login is bad input at its line.
func TestSessionsAgainstAServer(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs it", "python3")
	dir := t.TempDir()
	sc := filepath.Join(dir, "sessions.yaml")
	os.WriteFile(sc, []byte(`name: sessions
levels: [2]
duration: 1s
login:
  path: /login
  content_type: application/json
  body_file: creds.json
request:
  path: /rows
  validate: json
  headers: {Authorization: "Bearer ${login.auth.token}"}
client: {read_rate: 0}
targets:
  - name: app
    command: [python3, cmd/harness/testdata/sessions.py, "{port}"]
    health: /health
`), 0o644)
	os.WriteFile(filepath.Join(dir, "creds.json"), []byte(`{"user": "u", "password": "s3cret"}`), 0o600)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := harnessRun(t, "run", "--out", out, sc)
	run := only(t, readResults(t, out), "app", 2)
	if code != 0 || run.OK < 4 || run.Failed != 0 || run.Relogins == 0 || run.Logins < 2+run.Relogins {
		t.Errorf("exit %d, %d ok, %d failed %v %+v, %d logins, %d relogins\n%s\n%s", code, run.OK, run.Failed, run.Errors, run.FailureReasons, run.Logins, run.Relogins, stdout, stderr)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: b\nlevels: [1]\nrequest:\n  path: /\n  headers:\n    Authorization: \"Bearer ${login.token}\"\ntargets:\n  - name: a\n    command: [harness, serve, --port, \"{port}\"]\n"), 0o644)
	if code, _, stderr := harnessRun(t, "run", "--out", filepath.Join(dir, "bad"), bad); code != 2 || !strings.Contains(stderr, bad+":5: request.headers.Authorization") || !strings.Contains(stderr, "no login: request") {
		t.Errorf("${login.token} without a login: exit %d\n%s", code, stderr)
	}
}

// heap: auto on a Python server nobody here wrote, with no profiling
// endpoint: the run's peak is a plain run's, its heap top comes from a
// repeat with tracemalloc injected (no change to the server), names the
// server's own function and line, and says what that repeat's peak was.
func TestHeapAutoOnAPythonServer(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs it", "python3")
	code, stdout, stderr, run, out := runScenarioTextOut(t, `name: heap-auto
levels: [2]
duration: 3s
request: {path: /rows, validate: json}
client: {read_rate: 0}
memory: {settle: 0s}
targets:
  - name: whole
    command: [python3, cmd/harness/testdata/whole.py, "{port}"]
    health: /health
    heap: auto
`, "whole", 2)
	if code != 0 || len(run.HeapTop) == 0 || !strings.Contains(run.HeapTop[0].Func, "cmd/harness/testdata/whole.py:") || !strings.HasPrefix(run.HeapMechanism, "tracemalloc") ||
		run.HeapEvidencePeakBytes <= 0 || run.HeapToolBytes <= 0 || !strings.Contains(stderr, "(heap evidence): flooding") {
		t.Errorf("exit %d, heap top %+v, mechanism %q, evidence peak %d, tool %d, note %q\n%s\n%s", code, run.HeapTop, run.HeapMechanism, run.HeapEvidencePeakBytes, run.HeapToolBytes, run.HeapNote, stdout, stderr)
	}
	// The evidence is saved as a pprof profile: pprof's own tool lists
	// the server's function by file:line, and the profile's top is the
	// run's.
	if !strings.HasSuffix(run.HeapProfile, ".pb.gz") {
		t.Fatalf("heap profile %q; want a pprof profile", run.HeapProfile)
	}
	b, err := os.ReadFile(filepath.Join(out, run.HeapProfile))
	if err != nil {
		t.Fatal(err)
	}
	if top, err := heapprof.Top(b, len(run.HeapTop)); err != nil || !cmp.Equal(top, run.HeapTop) {
		t.Errorf("the saved profile's top %+v, %v; want the run's %+v", top, err, run.HeapTop)
	}
	lines, err := exec.Command("go", "tool", "pprof", "-top", "-lines", filepath.Join(out, run.HeapProfile)).CombinedOutput()
	if err != nil || !strings.Contains(string(lines), "whole.py:") {
		t.Errorf("go tool pprof -top -lines: %v\n%s", err, lines)
	}
}

// A real server nobody here wrote that gzips (nginx, gzip on) serving an
// object holding the rows: flooded with --compressed and checked as JSON,
// every answer is valid after its gzip, none a false failure; bytes on the
// wire and decoded counted apart.
func TestNginxGzipsAnObject(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs nginx-light", "nginx")
	dir := t.TempDir()
	var rows []string
	for i := 1; i <= 5000; i++ {
		rows = append(rows, fmt.Sprintf(`{"id": %d, "v": "%s"}`, i, strings.Repeat("x", 100)))
	}
	os.WriteFile(filepath.Join(dir, "rows.json"), []byte(`{"data": [`+strings.Join(rows, ",")+`], "meta": {"rows": 5000}}`), 0o644)
	port := freeTestPort(t)
	conf := filepath.Join(dir, "nginx.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`worker_processes 1;
user root; # its worker reads the test's own directory
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  types { application/json json; }
  gzip on;
  gzip_types application/json;
  client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  server {
    listen 127.0.0.1:%[2]d;
    root %[1]s;
    location = /health { return 204; }
  }
}
`, dir, port)), 0o644)
	sc := filepath.Join(dir, "nginx.yaml")
	os.WriteFile(sc, []byte(fmt.Sprintf(`name: nginx-gzip
levels: [2]
duration: 1s
request: {path: /rows.json, validate: json, rows: data}
client: {compressed: true, read_rate: 0}
targets:
  - name: nginx
    command: [nginx, -c, %s, -p, %s, -g, "daemon off;"] # the port is in its config
    port: %d
    health: /health
    heap: off # what is measured here is the answers; heap: auto would repeat it under heaptrack (its master only)
`, conf, dir, port)), 0o644)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := harnessRun(t, "run", "--out", out, sc)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	run := only(t, readResults(t, out), "nginx", 2)
	if code != 0 || run.OK == 0 || run.Failed != 0 || run.Rows != run.OK*5000 || run.BytesDecoded < 5*run.BytesReceived {
		t.Errorf("exit %d, %d ok, %d failed %v %+v, %d rows, %d bytes received, %d decoded\n%s\n%s",
			code, run.OK, run.Failed, run.Errors, run.FailureReasons, run.Rows, run.BytesReceived, run.BytesDecoded, stdout, stderr)
	}
}

// heap: auto on a Ruby app under Puma in cluster mode, unedited: the heap
// top comes from ObjectSpace's allocation tracing injected through RUBYOPT
// into the master and the workers it forks, by method and file:line.
func TestHeapAutoOnRubyUnderPuma(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs puma", "puma")
	code, stdout, stderr, run := runScenarioText(t, `name: heap-auto-ruby
levels: [2]
duration: 3s
request: {path: "/export?rows=4000&width=2000&mode=render", validate: json}
client: {read_rate: 0}
memory: {settle: 0s}
targets:
  - name: puma
    command: [puma, --dir, targets/ruby, -w, "2", -t, "4:4", -b, "tcp://127.0.0.1:{port}", config.ru]
    heap: auto
`, "puma", 2)
	// The answers are JSON.generate's (a library's line to ObjectSpace),
	// their buffers moved into puma's slices as it writes: both lead on
	// to the app's line that asked for them, within the top three.
	named := false
	for i, f := range run.HeapTop {
		named = named || i < 3 && strings.HasPrefix(f.Func, "block (2 levels) in <main> (config.ru:47) via ")
	}
	if code != 0 || !named || !strings.HasPrefix(run.HeapMechanism, "ObjectSpace") || run.HeapEvidencePeakBytes <= 0 {
		t.Errorf("exit %d, heap top %+v, mechanism %q, evidence peak %d, note %q; want the app's JSON.generate line (config.ru:47) in the top three\n%s\n%s", code, run.HeapTop, run.HeapMechanism, run.HeapEvidencePeakBytes, run.HeapNote, stdout, stderr)
	}
}

// A Node cluster under heap: auto: its workers inherit NODE_OPTIONS and
// with it the port of the inspector the main process holds, so only the
// main process is reached, and the run says so rather than showing the
// master's top as the server's.
func TestHeapAutoOnANodeClusterSaysWhatItReached(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "install Node 20 (Debian's nodejs)", "node")
	app := filepath.Join(t.TempDir(), "cluster.js")
	os.WriteFile(app, []byte(`const cluster = require('cluster'), http = require('http');
if (cluster.isPrimary) {
  for (let i = 0; i < 2; i++) cluster.fork();
} else {
  http.createServer((req, res) => res.end(req.url === '/health' ? 'ok' : JSON.stringify(Array.from({length: 20000}, (_, i) => ({id: i}))))).listen(Number(process.argv[2]), '127.0.0.1');
}
`), 0o644)
	code, stdout, stderr, run := runScenarioText(t, `name: heap-auto-node-cluster
levels: [2]
duration: 2s
request: {path: /rows, validate: json}
client: {read_rate: 0}
memory: {settle: 0s}
targets:
  - name: node
    command: [node, `+app+`, "{port}"]
    health: /health
`, "node", 2)
	if code != 0 || run.OK == 0 || !strings.Contains(run.HeapNote, "the inspector reached the main process only, not the 2 it started") {
		t.Errorf("exit %d, %d ok, heap note %q, top %+v\n%s\n%s", code, run.OK, run.HeapNote, run.HeapTop, stdout, stderr)
	}
}

// heap: auto on a Node server, unedited: its inspector opened through
// NODE_OPTIONS on a loopback port the harness picked, the heap top from a
// snapshot with allocation tracking — the Buffers outside the V8 heap on
// the function that made them.
func TestHeapAutoOnANodeServer(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "install Node 20 (Debian's nodejs)", "node")
	code, stdout, stderr, run := runScenarioText(t, `name: heap-auto-node
levels: [2]
duration: 2s
request: {path: /rows, validate: json}
client: {read_rate: 0}
memory: {settle: 0s}
targets:
  - name: node
    command: [node, cmd/harness/testdata/buffers.js, "{port}"]
    health: /health
    heap: auto
`, "node", 2)
	// The Buffers, outside the V8 heap, on the function that made them
	// (the injected tagger's stack), within the top three.
	named := false
	for i, f := range run.HeapTop {
		named = named || i < 3 && strings.HasPrefix(f.Func, "render (testdata/buffers.js:9)")
	}
	if code != 0 || !named || !strings.HasPrefix(run.HeapMechanism, "V8 heap snapshot") {
		t.Errorf("exit %d, heap top %+v, mechanism %q, note %q\n%s\n%s", code, run.HeapTop, run.HeapMechanism, run.HeapNote, stdout, stderr)
	}
}

// heap: auto on a C server, unedited and by default (its runtime read from
// its executable): the heap top at the peak comes from a repeat under
// heaptrack, preloaded through the harness's cgroup wrapper into the
// server alone, and names the function that builds each whole answer;
// heaptrack's own trace is kept.
func TestHeapAutoOnANativeServer(t *testing.T) {
	t.Parallel()
	bin := harnesstest.NativeExport(t)
	code, stdout, stderr, run := runScenarioText(t, `name: heap-auto-native
levels: [4]
duration: 2s
request: {path: "/export?rows=2000&width=2000", validate: json}
client: {read_rate: 2MiB}
memory: {settle: 0s, limit: 1GiB}
targets:
  - name: c
    command: [`+bin+`, "{port}"]
    health: /health
`, "c", 4)
	if code != 0 || run.Runtime != "native" || len(run.HeapTop) == 0 || !strings.HasPrefix(run.HeapTop[0].Func, "build_export (export.c:") ||
		run.HeapTop[0].InuseBytes < 2*4e6 || run.HeapMechanism != heaphook.Native || run.HeapEvidencePeakBytes <= 0 || run.HeapTrace == "" {
		t.Fatalf("exit %d, runtime %q, heap top %+v, mechanism %q, evidence peak %d, trace %q, note %q\n%s\n%s", code, run.Runtime, run.HeapTop, run.HeapMechanism, run.HeapEvidencePeakBytes, run.HeapTrace, run.HeapNote, stdout, stderr)
	}
	if !strings.Contains(stderr, "at the peak build_export (export.c:") {
		t.Errorf("the run's line does not name what held most at the peak:\n%s", stderr)
	}
}

// runScenarioText writes a scenario to a file of its own, runs it, and
// returns the exit code, the output and target's run at level.
func runScenarioText(t *testing.T, text, target string, level int) (int, string, string, result.Run) {
	t.Helper()
	code, stdout, stderr, run, _ := runScenarioTextOut(t, text, target, level)
	return code, stdout, stderr, run
}

// runScenarioTextOut is runScenarioText, with the run's directory.
func runScenarioTextOut(t *testing.T, text, target string, level int) (int, string, string, result.Run, string) {
	t.Helper()
	dir := t.TempDir()
	sc, out := filepath.Join(dir, "scenario.yaml"), filepath.Join(dir, "out")
	if err := os.WriteFile(sc, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := harnessRun(t, "run", "--out", out, sc)
	return code, stdout, stderr, only(t, readResults(t, out), target, level), out
}
