//go:build e2e

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/report"
	"github.com/floodharness/harness/internal/result"
)

// A soak judges memory's trend so a leak is growing and a clean server
// flat: the leak knob (64 KiB kept per request, 10 requests a second) and
// the same server without it, 32 s each, the trend judged over the later
// half (a Go server's RSS climbs for its first ~16 s).
func TestSoakTrend(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "soak.yaml")
	os.WriteFile(file, []byte(`name: soak
warmup: 2s
soak: {concurrency: 4, duration: 32s}
request: {path: "/export?rows=100"}
client: {model: open, rate: 10/s}
memory: {trend_min: 20s, settle: 1s}
targets:
  - {name: clean, command: [harness, serve, --impl, streamed, --port, "{port}"]}
  - {name: leaky, command: [harness, serve, --impl, streamed, --leak-bytes, 64KiB, --port, "{port}"], heap: pprof}
gate:
  rules:
    - {metric: memory_trend, max: 1MiB/min}
`), 0o644)
	out := filepath.Join(dir, "run")
	code, stdout, stderr := harnessRun(t, "run", "--out", out, file)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	r := readResults(t, out)
	clean, leaky := only(t, r, "clean", 4), only(t, r, "leaky", 4)
	t.Logf("clean %+v\nleaky %+v", *clean.MemoryTrend, *leaky.MemoryTrend)
	if clean.MemoryTrend == nil || clean.MemoryTrend.Verdict != result.TrendFlat || leaky.MemoryTrend == nil || leaky.MemoryTrend.Verdict != result.TrendGrowing {
		t.Errorf("trends: clean %+v, leaky %+v; want flat and growing", clean.MemoryTrend, leaky.MemoryTrend)
	}
	// The heap at the start of the steady part against the one after the
	// flood: the leak knob's function grew most, and every output says so.
	const leak = "grew most: github.com/floodharness/harness/targets.(*Server).leak +"
	if leaky.SteadyHeapProfile == "" || len(leaky.HeapGrowth) == 0 || !strings.HasPrefix(report.GrewMost(leaky), leak) {
		t.Errorf("leaky's heap growth: %q %+v", leaky.SteadyHeapProfile, leaky.HeapGrowth)
	} else if _, err := os.Stat(filepath.Join(out, leaky.SteadyHeapProfile)); err != nil {
		t.Error(err)
	}
	if !strings.Contains(stderr, leak) {
		t.Errorf("the console does not name the leak's function:\n%s", stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "summary.md")); !strings.Contains(string(b), leak) {
		t.Errorf("summary.md does not name the leak's function:\n%s", b)
	}
	// The gate fails the leak, with its trend and its function.
	code, gout, _ := harnessRun(t, "gate", "--current", filepath.Join(out, "results.json"), "--rules", file)
	if code != 1 || !strings.Contains(gout, "memory_trend") || !strings.Contains(gout, "leaky") || !strings.Contains(gout, leak) {
		t.Errorf("gate on the leak: exit %d\n%s", code, gout)
	}
	// --soak on the command line; a soak no longer than its warmup is refused.
	if code, _, stderr := harnessRun(t, "run", "--soak", "2x1s", "--targets", "streamed", "--out", filepath.Join(dir, "x"), "scenarios/quick.yaml"); code != 0 || !strings.Contains(stderr, "run quick: 1 target × 1 level × 1 repeat") {
		t.Errorf("--soak 2x1s: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := harnessRun(t, "run", "--soak", "2xlong", "--out", filepath.Join(dir, "z"), "scenarios/quick.yaml"); code != 2 || !strings.Contains(stderr, "--soak (soak): \"2xlong\": want CLIENTSxDURATION") {
		t.Errorf("--soak 2xlong: exit %d\n%s", code, stderr)
	}
	os.WriteFile(file, []byte("name: s\nwarmup: 5s\nsoak: {concurrency: 2, duration: 5s}\ntargets:\n  - {name: a, command: [x, \"{port}\"]}\n"), 0o644)
	if code, _, stderr := harnessRun(t, "run", "--out", filepath.Join(dir, "y"), file); code != 2 || !strings.Contains(stderr, "soak.duration: a soak of 5s is not longer than its warmup") {
		t.Errorf("soak within its warmup: exit %d\n%s", code, stderr)
	}
}
