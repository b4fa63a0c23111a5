package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/result"
)

// After the flood the target runs memory.settle longer and what it kept is
// recorded in the same measure as its idle: a server that keeps bytes per
// request (the reference server's leak knob, a Python app caching every
// body) retains them, the clean streamed server next to nothing.
func TestRetainedAfterTheFlood(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "retained.yaml")
	os.WriteFile(file, []byte(`name: retained
levels: [4]
duration: 5s
requests: 50
request: {path: "/export?rows=100"}
memory: {settle: 1s}
targets:
  - {name: clean, command: [harness, serve, --impl, streamed, --port, "{port}"]}
  - {name: leaky, command: [harness, serve, --impl, streamed, --leak-bytes, 256KiB, --port, "{port}"], heap: pprof}
  - {name: cache, command: [python3, cmd/harness/testdata/app.py, "{port}", /healthz, "2000", "100", cache], path: /export}
`), 0o644)
	out := filepath.Join(dir, "run")
	code, stdout, stderr := harnessRun(t, "run", "--out", out, file)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	r := readResults(t, out)
	clean, leaky, cache := only(t, r, "clean", 4), only(t, r, "leaky", 4), only(t, r, "cache", 4)
	for _, run := range []result.Run{clean, leaky, cache} {
		if run.AfterRSSBytes <= 0 || run.RetainedBytes != run.AfterRSSBytes-run.IdleRSSBytes || run.OK != 200 {
			t.Errorf("%s: after %d, retained %d, idle %d, %d ok", run.Target, run.AfterRSSBytes, run.RetainedBytes, run.IdleRSSBytes, run.OK)
		}
	}
	t.Logf("retained: clean %.1f MiB, leaky %.1f MiB, cache %.1f MiB (%s, %s, %s)", mib(clean.RetainedBytes), mib(leaky.RetainedBytes), mib(cache.RetainedBytes), clean.PeakRSSSource, leaky.PeakRSSSource, cache.PeakRSSSource)
	// 200 requests: the knob keeps 50 MiB, the cache 200 bodies of ~0.3 MB.
	if leaky.RetainedBytes < 30<<20 || cache.RetainedBytes < 30<<20 || clean.RetainedBytes > 10<<20 {
		t.Errorf("retained: clean %.1f MiB, leaky %.1f MiB, cache %.1f MiB", mib(clean.RetainedBytes), mib(leaky.RetainedBytes), mib(cache.RetainedBytes))
	}
	// What the leak still holds, by function, after a GC.
	if len(leaky.AfterHeapTop) == 0 || !strings.Contains(leaky.AfterHeapTop[0].Func, "leak") || leaky.AfterHeapProfile == "" {
		t.Errorf("leaky's heap after the flood: %s %+v; want the leak knob's function first", leaky.AfterHeapProfile, leaky.AfterHeapTop)
	}
	if !strings.Contains(stderr, "after the flood (idle") || !strings.Contains(stderr, "held most by github.com/floodharness/harness/targets.(*Server).leak") {
		t.Errorf("the console does not say what was kept:\n%s", stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "summary.md")); !strings.Contains(string(b), "leaky: ") || !strings.Contains(string(b), "after the flood at 4 clients") {
		t.Errorf("summary.md does not say what was kept:\n%s", b)
	}
	// A negative settle is bad input at its line.
	os.WriteFile(file, []byte("name: s\nlevels: [1]\nmemory: {settle: -1s}\ntargets:\n  - {name: a, command: [x, \"{port}\"]}\n"), 0o644)
	if code, _, stderr := harnessRun(t, "run", "--out", filepath.Join(dir, "x"), file); code != 2 || !strings.Contains(stderr, file+":3: memory.settle") {
		t.Errorf("settle -1s: exit %d\n%s", code, stderr)
	}
}
