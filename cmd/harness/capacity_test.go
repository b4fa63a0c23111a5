package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/capacity"
	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/result"
)

func readCapacity(t *testing.T, dir string) *result.Capacity {
	t.Helper()
	f, err := result.ReadCapacity(capacity.Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A server that refuses every request above K at once has capacity K:
// the search finds it exactly, confirmed, and the level above failed.
func TestCapacityFindsTheLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "limited.yaml")
	os.WriteFile(file, []byte(`name: limited
levels: [1]
duration: 1s
grace: 2s
memory: {limit: 256MiB}
targets:
  - name: limited
    command: [python3, cmd/harness/testdata/limited.py, "{port}", "5"]
`), 0o644)
	out := filepath.Join(dir, "run")
	code, stdout, stderr := harnessRun(t, "capacity", "--repeats", "2", "--max", "64", "--out", out, file)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	f := readCapacity(t, out)
	if f.Schema != result.CapacitySchema || f.Partial || len(f.Targets) != 1 {
		t.Fatalf("capacity.json: %+v", f)
	}
	tg := f.Targets[0]
	// ⌈log2 5⌉·2 + 2·repeats + 2 = 12
	if tg.Capacity != 5 || tg.FirstFailing != 6 || tg.CeilingReached || len(tg.Trials) > 12 || tg.LimitBy == "" {
		t.Errorf("capacity %d, first failing %d, ceiling %v, %d trials, limit by %q; want 5, 6 within 12 trials", tg.Capacity, tg.FirstFailing, tg.CeilingReached, len(tg.Trials), tg.LimitBy)
	}
	if !strings.Contains(stderr, "capacity limited c=6 r=0: FAIL") || !strings.Contains(stdout, "limited") {
		t.Errorf("the ladder or the table is missing:\n%s\n%s", stdout, stderr)
	}
	summary, _ := os.ReadFile(filepath.Join(out, "summary.md"))
	page, _ := os.ReadFile(filepath.Join(out, "capacity.html"))
	const sentence = "limited: capacity 5 concurrent clients under its 256 MiB cap"
	if !strings.Contains(string(summary), sentence) || !strings.Contains(string(page), sentence) {
		t.Errorf("summary.md or capacity.html lacks %q:\n%s", sentence, summary)
	}
	if _, err := os.Stat(filepath.Join(out, "capacity.svg")); err != nil {
		t.Error(err)
	}
	// A target that does not start has no capacity (not 0): exit 3 (a run
	// that failed), said.
	gone := filepath.Join(dir, "gone.yaml")
	os.WriteFile(gone, []byte("name: g\nlevels: [1]\nduration: 1s\nmemory: {limit: 64MiB}\ntargets:\n  - {name: gone, command: [no-such-server-here, \"{port}\"]}\n"), 0o644)
	code, stdout, stderr = harnessRun(t, "capacity", "--out", filepath.Join(dir, "gone"), gone)
	if g := readCapacity(t, filepath.Join(dir, "gone")).Targets[0]; code != 3 || !strings.Contains(stdout, "did not start") || !strings.HasPrefix(g.Error, "could not start") || len(g.Trials) != 0 {
		t.Errorf("a target that does not start: exit %d, error %q, %d trials\n%s\n%s", code, g.Error, len(g.Trials), stdout, stderr)
	}
	// No cap, bad flags: exit 2 before anything starts.
	nocap := filepath.Join(dir, "nocap.yaml")
	os.WriteFile(nocap, []byte("name: n\nlevels: [1]\ntargets:\n  - {name: a, command: [x, \"{port}\"]}\n"), 0o644)
	for _, args := range [][]string{{nocap}, {"--max", "0", file}, {"--repeats", "0", file}, {"--budget", "1s", file}, {"--p99", "-1s", file}} {
		if code, _, stderr := harnessRun(t, append([]string{"capacity", "--out", filepath.Join(dir, "x")}, args...)...); code != 2 {
			t.Errorf("capacity %q: exit %d, want 2\n%s", args, code, stderr)
		}
	}
}

// The reference buffered server under a cap: the answer passed its
// confirmation trials and the level above it failed at the cap.
func TestCapacityOfTheBufferedServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "buffered.yaml")
	os.WriteFile(file, []byte(`name: buffered-capacity
levels: [1]
duration: 1s
request: {path: "/export?rows=2000&width=4000"}
client: {read_rate: 4MiB, recv_buffer: 64KiB}
memory: {limit: 96MiB, heap_profile: "off"}
targets:
  - name: buffered
    command: [harness, serve, --impl, buffered, --port, "{port}"]
`), 0o644)
	out := filepath.Join(dir, "run")
	code, stdout, stderr := harnessRun(t, "capacity", "--repeats", "2", "--max", "32", "--out", out, file)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Log("\n" + stdout)
	tg := readCapacity(t, out).Targets[0]
	passes, aboveFailed := 0, false
	for _, tr := range tg.Trials {
		if tr.Concurrency == tg.Capacity && tr.Passed {
			passes++
		}
		if tr.Concurrency == tg.Capacity+1 && !tr.Passed {
			aboveFailed = true
		}
		if tr.Concurrency == tg.Capacity && !tr.Passed {
			t.Errorf("the answer c=%d failed a trial: %+v", tg.Capacity, tr)
		}
	}
	if tg.Capacity < 1 || tg.CeilingReached || passes < 2 || !aboveFailed {
		t.Errorf("capacity %d (ceiling %v): %d passes at it, the level above failed: %v; trials %+v", tg.Capacity, tg.CeilingReached, passes, aboveFailed, tg.Trials)
	}
}

// Ctrl-C mid-search keeps capacity.json with the trials so far, partial,
// exits 3 and leaves no target behind.
func TestCapacityInterruptKeepsTheTrials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	marker := fmt.Sprintf("capacity-%d", time.Now().UnixNano())
	file := filepath.Join(dir, "slow.yaml")
	os.WriteFile(file, []byte(`name: slow
levels: [1]
duration: 1s
memory: {limit: 256MiB}
targets:
  - name: streamed
    command: [harness, serve, --impl, streamed, --port, "{port}"]
    env: {ORPHAN_MARKER: `+marker+`}
`), 0o644)
	out := filepath.Join(dir, "run")
	cmd := harnesstest.Command(harnessBin, "capacity", "--out", out, file)
	cmd.Dir = "../.."
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(stderr.String(), "capacity streamed c=2 r=0: PASS"); {
		if time.Now().After(deadline) {
			t.Fatalf("no second trial:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("after SIGINT: %v, want exit 3\n%s", err, stderr.String())
	}
	f := readCapacity(t, out)
	if !f.Partial || f.FinishedAt != nil || len(f.Targets) != 1 || len(f.Targets[0].Trials) < 2 {
		t.Errorf("capacity.json after SIGINT: partial %v, targets %+v", f.Partial, f.Targets)
	}
	if pids := harnesstest.Survivors("ORPHAN_MARKER", marker); len(pids) > 0 {
		t.Errorf("targets survived: %v", pids)
	}
}

// An admission gate that rejects what does not fit (503 with Retry-After)
// serves one ~8 MB download at a time under a 10 MiB budget: without
// --allow-shed its capacity is 1; with it, the shed clients count as
// served by design and the search reaches --max; a p99 bound below one
// slow download's time fails even one client. capacity.json records the
// bounds.
func TestCapacityBounds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "reject.yaml")
	os.WriteFile(file, []byte(`name: reject
levels: [1]
duration: 1s
request: {path: "/export?rows=2000&width=4000"}
client: {read_rate: 8MiB, recv_buffer: 64KiB}
memory: {limit: 256MiB, heap_profile: "off", settle: 0s}
targets:
  - name: reject
    command: [harness, serve, --impl, streamed, --admission, reject, --budget, 10MiB, --port, "{port}"]
`), 0o644)
	search := func(args ...string) *result.Capacity {
		out := filepath.Join(dir, strings.Join(args, "")+"run")
		code, stdout, stderr := harnessRun(t, append([]string{"capacity", "--repeats", "1", "--max", "4", "--out", out}, append(args, file)...)...)
		if code != 0 {
			t.Fatalf("capacity %q: exit %d\n%s\n%s", args, code, stdout, stderr)
		}
		return readCapacity(t, out)
	}
	plain, shed, slow := search(), search("--allow-shed"), search("--p99", "10ms")
	if tg := plain.Targets[0]; tg.Capacity != 1 || tg.FirstFailing != 2 || plain.AllowShed {
		t.Errorf("without --allow-shed: capacity %d, first failing %d; want 1, 2: %+v", tg.Capacity, tg.FirstFailing, tg.Trials)
	}
	if tg := shed.Targets[0]; tg.Capacity != 4 || !tg.CeilingReached || !shed.AllowShed {
		t.Errorf("with --allow-shed: capacity %d, ceiling %v, allow_shed %v; want 4, reached: %+v", tg.Capacity, tg.CeilingReached, shed.AllowShed, tg.Trials)
	} else if last := tg.Trials[len(tg.Trials)-1]; last.Shed == 0 {
		t.Errorf("the c=4 trial passed with nothing shed: %+v", last)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "--allow-shedrun", "summary.md")); !strings.Contains(string(b), "with 503s with Retry-After counted as served") {
		t.Errorf("summary.md does not say the bound:\n%s", b)
	}
	if tg := slow.Targets[0]; tg.Capacity != 0 || slow.P99BoundMs != 10 || !strings.Contains(tg.Trials[0].Why, "above the 10ms bound") {
		t.Errorf("--p99 10ms: capacity %d, bound %v ms, first trial %+v", tg.Capacity, slow.P99BoundMs, tg.Trials[0])
	}
}
