package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/history"
	"github.com/floodharness/harness/internal/result"
)

// writeRuns writes a results.json of one target at 16 clients, one run a
// peak in MiB, from the scenario file name with its sha256 and the host's
// CPU model.
func writeRuns(t *testing.T, dir, sha, cpu string, peaks ...int64) string {
	t.Helper()
	r := &result.Results{Schema: result.Schema, Scenario: result.Scenario{Name: "quick", File: "scenarios/quick.yaml", SHA256: sha},
		Host: result.Host{CPUs: 2, CPUModel: cpu, Kernel: "6.1", Cgroup: "v1"}}
	for i, p := range peaks {
		r.Runs = append(r.Runs, result.Run{Target: "streamed", Concurrency: 16, Repeat: i, PeakRSSBytes: p << 20, PeakRSSSource: result.PeakVmHWM,
			Client: result.Client{Requests: 10, OK: 10, DurationS: 1, BytesReceived: 1e7, LatencyMs: result.Latency{P50: 10, P99: 20}}})
	}
	path := filepath.Join(dir, "results.json")
	if err := result.Write(path, r); err != nil {
		t.Fatal(err)
	}
	return path
}

// Two runs of one scenario file with other flags laid over it are not the
// same experiment, and compare says so.
func TestCompareSaysOtherFlags(t *testing.T) {
	t.Parallel()
	a := writeRuns(t, t.TempDir(), "aaaa", "cpu A", 12, 13, 12)
	b := writeRuns(t, t.TempDir(), "aaaa", "cpu A", 12, 13, 12)
	r, err := result.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	r.Scenario.Flags = []string{"--duration", "5s"}
	if err := result.Write(b, r); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := harnessRun(t, "compare", a, b); code != 0 || !strings.Contains(stdout, "NOTE: A laid other flags over its scenario file (none, now --duration 5s)") {
		t.Errorf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// harness compare sets two runs side by side: a peak that rose in every
// repeat is worse and significant; the two ran other scenario files on
// other CPUs, and the comparison says so first; Markdown and HTML too.
func TestCompareTwoRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := writeRuns(t, t.TempDir(), "aaaa", "cpu A", 12, 13, 12)
	b := writeRuns(t, t.TempDir(), "bbbb", "cpu B", 15, 16, 15)
	mdFile, htmlFile := filepath.Join(dir, "c.md"), filepath.Join(dir, "c.html")
	code, stdout, stderr := harnessRun(t, "compare", "--markdown", mdFile, "--html", htmlFile, a, b)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var peak string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.Contains(l, "peak (MiB)") {
			peak = l
		}
	}
	for _, want := range []string{"12.0 (3)", "15.0 (3)", "+3.0 (+25%) worse", "p=0.050, significant"} {
		if !strings.Contains(peak, want) {
			t.Errorf("peak line %q does not say %q\n%s", peak, want, stdout)
		}
	}
	for _, want := range []string{"NOTE: A ran another scenario file", "NOTE: A ran on another host: CPU cpu A → cpu B"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("compare does not say %q:\n%s", want, stdout)
		}
	}
	// report --baseline writes the same table beside the report.
	out := t.TempDir()
	if code, stdout, stderr := harnessRun(t, "report", "--baseline", a, "--out", out, b); code != 0 || !strings.Contains(stdout, "against the baseline: "+filepath.Join(out, "compare.html")) {
		t.Errorf("report --baseline: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(out, "compare.md")); err != nil || !strings.Contains(string(b), "| streamed | 16 | peak (MiB) | 12.0 (3) | 15.0 (3) |") {
		t.Errorf("report --baseline compare.md (%v):\n%s", err, b)
	}
	// The gate's tables say the same of a baseline from another scenario.
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte("rules:\n  - {metric: peak_rss_bytes, target: streamed, tolerance: 50%}\n"), 0o644)
	if _, stdout, _ := harnessRun(t, "gate", "--current", b, "--baseline", a, "--rules", rules, "--allow-host-change"); !strings.Contains(stdout, "the baseline ran another scenario file") {
		t.Errorf("the gate does not say the baseline ran another scenario:\n%s", stdout)
	}
	if b, err := os.ReadFile(mdFile); err != nil || !strings.Contains(string(b), "| streamed | 16 | peak (MiB) | 12.0 (3) | 15.0 (3) |") {
		t.Errorf("markdown (%v):\n%s", err, b)
	}
	if b, err := os.ReadFile(htmlFile); err != nil || !strings.Contains(string(b), `<tr class="worse"><td>streamed</td>`) {
		t.Errorf("html (%v):\n%s", err, b)
	}
	if code, _, _ := harnessRun(t, "compare", a); code != 2 {
		t.Errorf("one results.json: exit %d, want 2", code)
	}
}

// gate --history appends each judged run to DIR/<scenario>.jsonl, one
// line a run: its medians per target × level × metric with their spread,
// the commit and the host; the file is read back line by line.
func TestGateKeepsHistory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	hist := filepath.Join(dir, "history")
	os.WriteFile(rules, []byte("history: "+hist+"\nrules:\n  - {metric: oom, oom: never}\n"), 0o644) // the rules' history, no flag
	for i, peaks := range [][]int64{{12, 13, 12}, {15, 16, 15}} {
		cur := writeRuns(t, t.TempDir(), "aaaa", "cpu A", peaks...)
		code, stdout, stderr := harnessRun(t, "gate", "--current", cur, "--rules", rules, "--commit", fmt.Sprintf("c%d", i))
		if code != 0 || !strings.Contains(stdout, "history: "+filepath.Join(hist, "quick.jsonl")) {
			t.Fatalf("gate %d: exit %d\n%s\n%s", i, code, stdout, stderr)
		}
	}
	entries, err := history.Read(filepath.Join(hist, "quick.jsonl"))
	if err != nil || len(entries) != 2 {
		t.Fatalf("history: %d entries, %v", len(entries), err)
	}
	for i, want := range []float64{12, 15} {
		e := entries[i]
		var peak *history.Figure
		for j := range e.Figures {
			if f := &e.Figures[j]; f.Target == "streamed" && f.Level == 16 && f.Metric == "peak" {
				peak = f
			}
		}
		if e.Commit != fmt.Sprintf("c%d", i) || e.Host.CPUModel != "cpu A" || peak == nil || peak.Median != want || peak.N != 3 || peak.Max != want+1 {
			t.Errorf("entry %d: commit %q, host %+v, peak %+v; want median %v of 3", i, e.Commit, e.Host, peak, want)
		}
	}
}

// Over a history, the gate finds the change point a single baseline
// cannot: 8 runs at ~12 MiB then 4 at ~15, each within a loose tolerance
// of the one before, fail as a change for the worse with where it began,
// once a segment's worth of runs (history.Defaults) sits after it.
func TestGateFindsAChangePointInHistory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte("rules:\n  - {metric: oom, oom: never}\n"), 0o644)
	hist := filepath.Join(dir, "history")
	peaks := []int64{12, 12, 13, 12, 12, 13, 12, 12, 15, 15, 16, 15}
	var code int
	var stdout, stderr string
	for i, p := range peaks {
		cur := writeRuns(t, t.TempDir(), "aaaa", "cpu A", p, p, p)
		code, stdout, stderr = harnessRun(t, "gate", "--current", cur, "--rules", rules, "--history", hist, "--commit", fmt.Sprintf("c%d", i))
		if after := i - 7; after < history.Defaults.MinSegment && code != 0 {
			t.Fatalf("run %d: exit %d with %d runs after the change\n%s\n%s", i, code, after, stdout, stderr)
		}
	}
	if code != 1 || !strings.Contains(stdout, "streamed c=16 peak rose 24% [17%, 32%]") || !strings.Contains(stdout, "from c8 (4 runs ago)") {
		t.Errorf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	// harness history draws it: a page, a summary, a plot per series.
	if code, stdout, stderr := harnessRun(t, "history", hist); code != 0 || !strings.Contains(stdout, "quick: 12 runs") {
		t.Fatalf("history: exit %d\n%s\n%s", code, stdout, stderr)
	}
	page, _ := os.ReadFile(filepath.Join(hist, "quick", "history.html"))
	summary, _ := os.ReadFile(filepath.Join(hist, "quick", "history.md"))
	svg, err := os.ReadFile(filepath.Join(hist, "quick", "history-streamed-c16-peak.svg"))
	if !strings.Contains(string(page), "streamed c=16 peak rose 24%") || !strings.Contains(string(summary), "❌ streamed c=16 peak rose 24%") || err != nil || !strings.Contains(string(svg), "c8") {
		t.Errorf("history page:\n%s\nsummary:\n%s\nplot: %v", page, summary, err)
	}
}
