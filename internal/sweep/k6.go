package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/floodharness/harness/internal/launch"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
)

// k6Summary is the part of k6's --summary-export a run needs.
type k6Summary struct {
	Metrics struct {
		HTTPReqs struct {
			Count float64 `json:"count"`
		} `json:"http_reqs"`
		HTTPReqFailed struct {
			Passes float64 `json:"passes"` // requests that failed (the rate's true values)
		} `json:"http_req_failed"`
		DataReceived struct {
			Count float64 `json:"count"`
		} `json:"data_received"`
		Duration map[string]float64 `json:"http_req_duration"`
	} `json:"metrics"`
}

// runK6 produces the level's load with k6 instead of the built-in client:
// the scenario's script runs against the target, in its own process group,
// bounded by the scenario's duration, grace and a minute more.
func runK6(ctx context.Context, o Options, tg scenario.Target, p *launch.Process, level int, label string, run *result.Run) error {
	sc := o.Scenario
	base := tg.Name + "-" + label + "-k6"
	summary := filepath.Join(o.Dir, "logs", base+"-summary.json")
	logName := filepath.Join("logs", base+".log")
	logf, err := os.Create(filepath.Join(o.Dir, logName))
	if err != nil {
		return fmt.Errorf("k6 log: %w", err)
	}
	defer logf.Close()
	args := []string{"run", "--quiet", "--no-usage-report",
		"--summary-export", summary, "--summary-trend-stats", "med,p(90),p(99),max",
		"-e", "TARGET_URL=" + p.URL(sc.RequestPath(tg)), "-e", "TARGET_PORT=" + strconv.Itoa(p.Port),
		"-e", "TARGET_NAME=" + tg.Name, "-e", "VUS=" + strconv.Itoa(level), "-e", "DURATION=" + sc.Duration.String()}
	if sc.Segments != "" {
		args = append(args, "--execution-segment", sc.Segments)
	}
	args = append(args, sc.Script)
	ctx, cancel := context.WithTimeout(ctx, sc.Warmup+sc.Duration+sc.Grace+time.Minute)
	defer cancel()
	cmd := launch.Command(sc.K6, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start k6 (%s): %w", sc.K6, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // our own group only
		werr = <-done
	}
	run.Driver, run.DriverLog = "k6", logName
	var ee *exec.ExitError
	switch {
	case errors.As(werr, &ee):
		run.DriverExit = ee.ExitCode() // 99: the script's thresholds failed, a result
	case werr != nil:
		return fmt.Errorf("k6: %w", werr)
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		return fmt.Errorf("k6 exited %d without a summary (see %s): %w", run.DriverExit, logName, err)
	}
	var s k6Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("k6 summary %s: %w", summary, err)
	}
	m := s.Metrics
	run.Requests = int64(m.HTTPReqs.Count)
	run.Failed = int64(m.HTTPReqFailed.Passes)
	run.OK = run.Requests - run.Failed
	if run.Failed > 0 {
		run.Errors["http_req_failed"] = run.Failed
	}
	run.BytesReceived = int64(m.DataReceived.Count)
	run.DurationS = time.Since(start).Seconds()
	run.LatencyMs = result.Latency{P50: m.Duration["med"], P90: m.Duration["p(90)"], P99: m.Duration["p(99)"], Max: m.Duration["max"]}
	return nil
}
