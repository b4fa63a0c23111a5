package result

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"math"

	"github.com/floodharness/harness/internal/fault"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func sample() *Results {
	now := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	return &Results{
		Schema:    Schema,
		Scenario:  Scenario{Name: "quick", File: "scenarios/quick.yaml", SHA256: strings.Repeat("a", 64)},
		StartedAt: now, FinishedAt: &now,
		Host: Host{CPUs: 2, MemBytes: 24 << 30, Kernel: "6.1", Go: "go1.26.8", Cgroup: "v1"},
		Runs: []Run{
			{Target: "streamed", Concurrency: 8, Repeat: 0, PeakRSSBytes: 9 << 20, Client: Client{Errors: map[string]int64{}}},
			{Target: "buffered", Concurrency: 1, Repeat: 0, PeakRSSBytes: 40 << 20, Client: Client{Errors: map[string]int64{"truncated": 2}}},
			{Target: "buffered", Concurrency: 8, Repeat: 1, PeakRSSBytes: 300 << 20},
			{Target: "buffered", Concurrency: 8, Repeat: 0, PeakRSSBytes: 200 << 20},
			{Target: "buffered", Concurrency: 8, Repeat: 2, Error: "never healthy"},
		},
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "results.json")
	want := sample()
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temp files left beside results.json: %v", entries)
	}
}

func TestReadRejects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := map[string]string{
		"wrong schema":  `{"schema":"flood-harness/results/v0","runs":[]}`,
		"unknown field": `{"schema":"flood-harness/results/v1","runs":[],"colour":"red"}`,
		"not json":      `peak: 12`,
	}
	for name, body := range tests {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Read(p)
		var bad *BadInputError
		if !errors.As(err, &bad) || fault.KindOf(bad) != fault.BadInput || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: Read = %v, want a BadInputError naming the file", name, err)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("Read of a missing file succeeded")
	}
}

func TestSelectAndMedian(t *testing.T) {
	t.Parallel()
	r := sample()
	if got := r.Targets(); !cmp.Equal(got, []string{"streamed", "buffered"}) {
		t.Errorf("Targets = %v", got)
	}
	if got := r.Levels(); !cmp.Equal(got, []int{1, 8}) {
		t.Errorf("Levels = %v", got)
	}
	runs := r.Select("buffered", 8)
	peak := func(r Run) float64 { return float64(r.PeakRSSBytes) }
	if m, ok := Median(runs, peak); !ok || m != 250<<20 {
		t.Errorf("median of 200 and 300 MiB (a failed run ignored) = %v, %v", m, ok)
	}
	if _, ok := Median(r.Select("nope", 1), peak); ok {
		t.Error("median of nothing")
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	run := Run{Client: Client{Requests: 90, OK: 81, Aborted: 9, BytesReceived: 50e6, DurationS: 2}}
	if got := run.OKRatio(); got != 1 {
		t.Errorf("OKRatio with 81 ok and 9 aborted of 90 = %v, want 1", got)
	}
	if got := (Run{Client: Client{Requests: 10, OK: 5}}).OKRatio(); got != 0.5 {
		t.Errorf("OKRatio 5/10 = %v", got)
	}
	if got := (Run{}).OKRatio(); got != 1 {
		t.Errorf("OKRatio of nothing = %v, want 1", got)
	}
	if got := run.MBps(); got != 25 {
		t.Errorf("MBps = %v, want 25", got)
	}
	if s, ok := Slope([]float64{1, 4, 16, 64}, []float64{10, 40, 160, 640}); !ok || s != 10 {
		t.Errorf("Slope of y=10x = %v, %v", s, ok)
	}
	if s, ok := Slope([]float64{1, 4, 16}, []float64{9, 9, 9}); !ok || s != 0 {
		t.Errorf("Slope of a flat line = %v, %v", s, ok)
	}
	if _, ok := Slope([]float64{8, 8}, []float64{1, 2}); ok {
		t.Error("Slope with one x value")
	}
}

// results.json may be hand-edited or come from another version: any input
// parses or says why, and what parses survives a write and a read intact.
func FuzzParse(f *testing.F) {
	b, err := json.Marshal(sample())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"schema":"flood-harness/results/v1","runs":[{"target":"a","concurrency":-1}]}`))
	f.Add([]byte(`{"schema":"other"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("fuzz.json", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("accepted results do not encode: %v", err)
		}
		again, err := Parse("again.json", out)
		if err != nil {
			t.Fatalf("re-reading what was written: %v", err)
		}
		if diff := cmp.Diff(r, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +again):\n%s", diff)
		}
	})
}

// A target killed at its limit: what it would have needed, from the line
// through the levels below the cap, and how many clients the cap holds;
// the capped level stays out of the slope.
func TestDemand(t *testing.T) {
	t.Parallel()
	r := &Results{}
	for l, peak := range map[int]int64{1: 110, 4: 140, 16: 260} {
		r.Runs = append(r.Runs, Run{Target: "b", Concurrency: l, PeakRSSBytes: peak << 20, MemoryLimitBytes: 512 << 20})
	}
	r.Runs = append(r.Runs, Run{Target: "b", Concurrency: 64, PeakRSSBytes: 512 << 20, MemoryLimitBytes: 512 << 20, OOMKilled: true})
	d, ok := r.Demand("b")
	if !ok || d.Level != 64 || math.Abs(d.BytesPerClient-10<<20) > 1 || math.Abs(d.NeededBytes-740<<20) > 1<<10 || math.Abs(d.SafeClients-41.2) > 0.1 {
		t.Errorf("Demand = %+v, %v; want 10 MiB/client, ~740 MiB at 64, the cap reached at ~41 clients", d, ok)
	}
	if s, _ := r.PeakSlope("b"); math.Abs(s-10<<20) > 1 {
		t.Errorf("PeakSlope = %.0f, want 10 MiB/client without the capped level", s)
	}
	r.Runs = r.Runs[:3]
	if _, ok := r.Demand("b"); ok {
		t.Error("Demand of a target that was never killed")
	}
}
