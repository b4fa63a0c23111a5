package flood

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/result"
)

// needK6 returns bin/k6's absolute path and a freshly built harness, or
// skips when bin/k6 is not built (make test-k6 builds it; CI runs that).
func needK6(t *testing.T) (k6, harness string) {
	t.Helper()
	k6, err := filepath.Abs("../bin/k6")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(k6); err != nil {
		t.Skip("bin/k6 is not built: run make k6 (or make test-k6)")
	}
	if harness, err = harnesstest.Build(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	return k6, harness
}

// The example script against real reference servers: the threshold on the
// server's peak RSS decides k6's exit code.
func TestExampleThresholdDecidesExitCode(t *testing.T) {
	k6, harness := needK6(t)
	tests := []struct {
		impl string
		want int
	}{
		{"buffered", 99}, // 16 VUs × ~8.6 MB bodies, each built as rows + two copies: far past 100 MiB
		{"streamed", 0},
	}
	for _, tt := range tests {
		t.Run(tt.impl, func(t *testing.T) {
			p := harnesstest.Serve(t, harness, "--impl", tt.impl)
			port := p.Addr[strings.LastIndex(p.Addr, ":")+1:]
			cmd := harnesstest.Command(k6, "run", "--quiet", "--no-usage-report",
				"-e", "TARGET_PORT="+port, "-e", "VUS=16", "-e", "DURATION=3s", "-e", fmt.Sprint("RSS_LIMIT=", 100<<20),
				"../examples/k6/flood.js")
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.want || !strings.Contains(string(out), "target_rss_peak_bytes") {
				t.Errorf("k6 against %s: exit %d, want %d\n%s", tt.impl, code, tt.want, out)
			}
		})
	}
}

// With driver: k6 the harness measures the target while k6 floods it.
func TestScenarioDriverK6(t *testing.T) {
	_, harness := needK6(t)
	out := t.TempDir()
	cmd := harnesstest.Command(harness, "run", "--out", out, "xk6/testdata/k6-driver.yaml")
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("harness run: %v\n%s", err, b)
	}
	r, err := result.Read(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Runs) != 2 {
		t.Fatalf("%d runs, want 2", len(r.Runs))
	}
	for _, run := range r.Runs {
		if run.Driver != "k6" || run.DriverExit != 0 || run.Requests == 0 || run.OK != run.Requests ||
			run.BytesReceived == 0 || run.LatencyMs.P50 <= 0 || run.PeakRSSBytes == 0 || run.DriverLog == "" {
			t.Errorf("c=%d: %+v", run.Concurrency, run)
		}
		// k6 fetched the scenario's path (rows=500, ~1.1 MB), not the
		// script's default (rows=4000, ~8.6 MB): it honours TARGET_URL.
		if per := run.BytesReceived / max(run.Requests, 1); per > 2<<20 {
			t.Errorf("c=%d: %d bytes per request: k6 did not fetch request.path", run.Concurrency, per)
		}
	}
}

// k6 sends the scenario's method, headers and body, as the built-in
// client does: PUTs to /upload all succeed (a GET there is refused).
func TestScenarioDriverK6SendsTheRequest(t *testing.T) {
	_, harness := needK6(t)
	out := t.TempDir()
	cmd := harnesstest.Command(harness, "run", "--out", out, "xk6/testdata/k6-upload.yaml")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "FLOOD_K6_HEADER=k6-header-value")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("harness run: %v\n%s", err, b)
	}
	r, err := result.Read(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Runs) != 1 || r.Runs[0].Requests == 0 || r.Runs[0].OK != r.Runs[0].Requests {
		t.Fatalf("runs %+v: want every PUT served", r.Runs)
	}
}
