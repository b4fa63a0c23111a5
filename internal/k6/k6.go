package k6

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

	"github.com/floodharness/harness/internal/load"
	"github.com/floodharness/harness/internal/pgroup"
	"github.com/floodharness/harness/internal/result"
)

// Driver produces the load with k6 running Script: in its own process group,
// bounded by the job's warmup, duration, grace and a minute more.
type Driver struct {
	Bin    string // the k6 binary
	Script string
	// Segment is this machine's k6 execution segment ("0:1/2"), when the
	// script runs split over several machines.
	Segment string
	// Instances, above 1, splits the load over that many k6 processes
	// (see scaled): local ones, or one on each of Hosts.
	Instances int
	Hosts     []Host
	// Remote lists the REST APIs (HOST:PORT) of k6 instances started
	// elsewhere, paused, for each level; External counts instances that
	// start by themselves (see remote).
	Remote   []string
	External int
	// Collector is the IP the harness receives the instances' data on
	// (default 127.0.0.1).
	Collector string
}

// Host is where one k6 instance runs: Launch runs a program there (the
// k6 command line is appended), and its REST API listens on Address.
type Host struct {
	Launch  []string
	Address string
}

var _ load.Driver = Driver{}

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

// Drive implements load.Driver.
func (k Driver) Drive(ctx context.Context, j load.Job) (result.Client, error) {
	job := level{Job: j}
	if k.Instances > 1 || len(k.Remote) > 0 || k.External > 0 {
		return k.scaled(ctx, job)
	}
	return k.single(ctx, job)
}

// args are k6 run's arguments for job, before the script.
func (k Driver) args(job level, summary string, local bool) []string {
	return append([]string{"run", "--quiet", "--no-usage-report",
		"--summary-export", summary, "--summary-trend-stats", "med,p(90),p(99),max"}, k6Env(job, local)...)
}

// k6Env is what the script is told of the job, as k6's -e variables:
// TARGET_PORT only where the target runs on the same machine (a script may
// watch its memory there).
func k6Env(job level, local bool) []string {
	env := []string{"-e", "TARGET_URL=" + job.URL, "-e", "TARGET_NAME=" + job.Target,
		"-e", "VUS=" + strconv.Itoa(job.Concurrency), "-e", "DURATION=" + job.Duration.String()}
	if local {
		env = append(env, "-e", "TARGET_PORT="+strconv.Itoa(job.Port))
	}
	if job.jobURL != "" {
		env = append(env, "-e", "FLOOD_JOB="+job.jobURL)
	}
	return env
}

// k6RequestEnv tells the script what to send, as the built-in client
// would: TARGET_METHOD, TARGET_HEADERS (a JSON object), and one of
// TARGET_BODY, TARGET_BODY_FILE or TARGET_BODY_SIZE. They go in k6's
// environment (k6 shows it to the script as __ENV), not its command line,
// where a header's secret would be visible to every process.
func k6RequestEnv(job level) []string {
	var env []string
	if job.Method != "" {
		env = append(env, "TARGET_METHOD="+job.Method)
	}
	if len(job.Header) > 0 {
		h := map[string]string{}
		for k := range job.Header {
			h[k] = job.Header.Get(k)
		}
		b, _ := json.Marshal(h)
		env = append(env, "TARGET_HEADERS="+string(b))
	}
	switch b := job.Body; {
	case b.File != "":
		env = append(env, "TARGET_BODY_FILE="+b.File)
	case b.Size > 0:
		env = append(env, "TARGET_BODY_SIZE="+strconv.FormatInt(b.Size, 10))
	case b.Data != nil:
		env = append(env, "TARGET_BODY="+string(b.Data))
	}
	return env
}

// single runs one k6 process and reads its summary.
func (k Driver) single(ctx context.Context, job level) (result.Client, error) {
	c := result.Client{Driver: result.DriverK6, DriverLog: job.LogName + ".log", Errors: map[string]int64{}}
	summary := filepath.Join(job.Dir, job.LogName+"-summary.json")
	logf, err := os.Create(filepath.Join(job.Dir, job.LogName+".log"))
	if err != nil {
		return c, fmt.Errorf("k6 log: %w", err)
	}
	defer logf.Close()
	args := k.args(job, summary, true)
	if k.Segment != "" {
		args = append(args, "--execution-segment", k.Segment)
	}
	args = append(args, k.Script)
	ctx, cancel := context.WithTimeout(ctx, job.Warmup+job.Duration+job.Grace+time.Minute)
	defer cancel()
	// Its own group, so a timeout stops k6 and anything it started; killed
	// by the kernel if the harness dies first.
	cmd := pgroup.Command(k.Bin, args...)
	cmd.Env = append(os.Environ(), k6RequestEnv(job)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return c, fmt.Errorf("start k6 (%s): %w", k.Bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-ctx.Done():
		pgroup.Signal(cmd, syscall.SIGKILL) // our own group only
		werr = <-done
	}
	var ee *exec.ExitError
	switch {
	case errors.As(werr, &ee):
		c.DriverExit = ee.ExitCode() // 99: the script's thresholds failed, a result
	case werr != nil:
		return c, fmt.Errorf("k6: %w", werr)
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		return c, fmt.Errorf("k6 exited %d without a summary (see %s): %w", c.DriverExit, c.DriverLog, err)
	}
	var s k6Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return c, fmt.Errorf("k6 summary %s: %w", summary, err)
	}
	m := s.Metrics
	c.Requests = int64(m.HTTPReqs.Count)
	c.Failed = int64(m.HTTPReqFailed.Passes)
	c.OK = c.Requests - c.Failed
	if c.Failed > 0 {
		c.Errors[result.OutcomeK6Failed] = c.Failed
	}
	c.BytesReceived = int64(m.DataReceived.Count)
	c.DurationS = time.Since(start).Seconds()
	c.LatencyMs = result.Latency{P50: m.Duration["med"], P90: m.Duration["p(90)"], P99: m.Duration["p(99)"], Max: m.Duration["max"]}
	return c, nil
}

// level is one level's job as k6 gets it: the job every driver gets, and
// where instances of a scaled run ask for it (passed as FLOOD_JOB).
type level struct {
	load.Job
	jobURL string
}
