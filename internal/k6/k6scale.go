package k6

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/floodharness/harness/internal/k6out"
	"github.com/floodharness/harness/internal/pgroup"
	"github.com/floodharness/harness/internal/result"
)

// k6Instance is one k6 process of a scaled run.
type k6Instance struct {
	name, addr, segment, log string
	launch                   []string // runs k6 where it runs ([] here)
	cmd                      *exec.Cmd
	done                     chan error
	exit                     int
}

// scaled splits the level over Instances local k6 processes: each gets an execution segment of the whole (the segments
// complement each other: k6 gives each its share of the VUs and
// iterations), runs paused until every one is ready, and all are resumed
// together through k6's REST API. Each sends its totals and duration
// histogram to a collector the harness runs for the level (k6's output
// "flood", built into bin/k6 from xk6/); the level's figures are their
// exact merge, each instance's kept beside them.
func (k Driver) scaled(ctx context.Context, job level) (result.Client, error) {
	c := result.Client{Driver: result.DriverK6, DriverLog: job.LogName + "-1.log", Errors: map[string]int64{}}
	col, collector, stop, err := k.collect(job)
	if err != nil {
		return c, err
	}
	defer stop()
	job.jobURL = collector + "v1/job"
	if len(k.Remote) > 0 || k.External > 0 {
		return k.remote(ctx, job, c, col)
	}
	// The script's thresholds are judged once, on the merged data, where
	// the harness can compute what they aggregate; else each instance
	// judges its own share, as k6 alone would.
	ths, thErr := k.k6Thresholds(ctx, job)
	var extra []string
	if thErr == nil {
		extra = []string{"--no-thresholds"}
	} else {
		c.K6ThresholdsNote = thErr.Error() + ": each instance judged its own share"
	}
	var insts []*k6Instance
	defer func() { // no k6 of ours outlives the level
		for _, in := range insts {
			pgroup.Signal(in.cmd, syscall.SIGKILL)
		}
	}()
	insts, err = k.startInstances(job, collector, extra)
	if err != nil {
		return c, err
	}
	limit := job.Warmup + job.Duration + job.Grace + time.Minute
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for _, in := range insts {
		if err := waitPaused(ctx, in); err != nil {
			return c, err
		}
	}
	start := time.Now()
	spread, err := resumeAll(ctx, insts)
	if err != nil {
		return c, err
	}
	c.K6ResumeSpreadMs = float64(spread.Microseconds()) / 1000
	if c.DriverExit, err = waitAll(ctx, insts); err != nil {
		return c, err
	}
	c.DurationS = time.Since(start).Seconds()
	snaps := map[string]k6out.Snapshot{}
	for _, s := range col.Snapshots() {
		snaps[s.Instance] = s
	}
	var got []k6out.Snapshot
	for _, in := range insts {
		s, ok := snaps[in.name]
		if !ok || !s.Final {
			return c, fmt.Errorf("k6 %s (%s) sent no final snapshot to the collector: is it bin/k6 with the flood output (make k6)? see %s", in.name, in.addr, in.log)
		}
		got = append(got, s)
		fig := figures(s)
		fig.Name, fig.Address, fig.Segment, fig.Exit, fig.Log = in.name, in.addr, in.segment, in.exit, in.log
		c.K6Instances = append(c.K6Instances, fig)
	}
	return k.merged(c, got, ths, thErr)
}

// collect serves the collector the instances send to, at its URL, with
// the level's job published for instances started elsewhere (k6/x/flood's
// job(__ENV.FLOOD_JOB): the target's URL, VUs and duration); stop ends it.
func (k Driver) collect(job level) (col *k6out.Collector, url string, stop func(), err error) {
	col = k6out.NewCollector()
	addr := k.Collector
	if addr == "" {
		addr = "127.0.0.1"
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "0") // an IP alone: any port
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", nil, fmt.Errorf("k6 collector: %w", err)
	}
	srv := &http.Server{Handler: col, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	col.SetJob(&k6out.Job{URL: job.URL, VUs: job.Concurrency, Duration: job.Duration.String()})
	return col, "http://" + ln.Addr().String() + "/", func() { col.SetJob(nil); srv.Close() }, nil
}

// startInstances starts the level's k6 instances paused, each with its
// execution segment: on the scenario's hosts, else on loopback. The ones
// started are returned with an error too, for the caller to stop.
func (k Driver) startInstances(job level, collector string, extra []string) ([]*k6Instance, error) {
	n := k.Instances
	seq := make([]string, n+1)
	for i := range seq {
		seq[i] = fraction(i, n)
	}
	var insts []*k6Instance
	for i := range n {
		in := &k6Instance{name: fmt.Sprintf("local-%d", i+1), segment: seq[i] + ":" + seq[i+1], log: fmt.Sprintf("%s-%d.log", job.LogName, i+1)}
		if i < len(k.Hosts) {
			// Elsewhere: a fixed port on the host's own address.
			h := k.Hosts[i]
			in.name, in.launch, in.addr = fmt.Sprintf("host-%d", i+1), h.Launch, net.JoinHostPort(h.Address, "6565")
		} else {
			port, err := freeLoopbackPort()
			if err != nil {
				return insts, err
			}
			in.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
		if err := k.startPaused(job, in, strings.Join(seq, ","), collector, extra); err != nil {
			return insts, err
		}
		insts = append(insts, in)
	}
	return insts, nil
}

// waitAll waits for every instance to end (killing those still running
// when ctx ends) and returns the highest exit code.
func waitAll(ctx context.Context, insts []*k6Instance) (int, error) {
	code := 0
	for _, in := range insts {
		var werr error
		select {
		case werr = <-in.done:
		case <-ctx.Done():
			pgroup.Signal(in.cmd, syscall.SIGKILL)
			werr = <-in.done
		}
		var ee *exec.ExitError
		switch {
		case errors.As(werr, &ee):
			in.exit = ee.ExitCode()
		case werr != nil:
			return code, fmt.Errorf("k6 %s: %w", in.name, werr)
		}
		code = max(code, in.exit)
	}
	return code, nil
}

// merged fills the level's figures from the instances' final snapshots:
// counts summed, latencies from the merged histograms, and the script's
// thresholds judged on the merge (unless thErr says they cannot be).
func (k Driver) merged(c result.Client, snaps []k6out.Snapshot, ths []k6Threshold, thErr error) (result.Client, error) {
	m := k6out.Merge(snaps)
	c.Requests, c.Failed, c.OK, c.BytesReceived = m.Requests, m.Failed, m.Requests-m.Failed, m.BytesReceived
	if c.Failed > 0 {
		c.Errors[result.OutcomeK6Failed] = c.Failed
	}
	c.LatencyMs = latency(m)
	if thErr == nil {
		judged, exit, err := judgeAll(ths, m, c.DurationS)
		if err != nil {
			return c, err
		}
		c.K6Thresholds, c.DriverExit = judged, max(c.DriverExit, exit)
	}
	return c, nil
}

// figures are one instance's counts and latencies from its final snapshot.
func figures(s k6out.Snapshot) result.K6Instance {
	return result.K6Instance{
		Requests: s.Requests, OK: s.Requests - s.Failed, Failed: s.Failed, Failures: s.Failures,
		BytesReceived: s.BytesReceived, LatencyMs: latency(s),
	}
}

// latency is a snapshot's percentiles in milliseconds.
func latency(s k6out.Snapshot) result.Latency {
	ms := func(q float64) float64 { return float64(s.DurationUs.Quantile(q)) / 1000 }
	return result.Latency{P50: ms(0.5), P90: ms(0.9), P99: ms(0.99), Max: float64(s.DurationUs.Max()) / 1000}
}

// fraction is i/n as k6's execution segments write it.
func fraction(i, n int) string {
	switch i {
	case 0:
		return "0"
	case n:
		return "1"
	}
	return fmt.Sprintf("%d/%d", i, n)
}

// startPaused starts one local k6, paused, with its REST API on in.addr
// and its output to the collector.
func (k Driver) startPaused(job level, in *k6Instance, sequence, collector string, extra []string) error {
	logf, err := os.Create(filepath.Join(job.Dir, in.log))
	if err != nil {
		return fmt.Errorf("k6 log: %w", err)
	}
	summary := filepath.Join(job.Dir, strings.TrimSuffix(in.log, ".log")+"-summary.json")
	args := append(k.args(job, summary, in.launch == nil), "--paused", "--address", in.addr,
		"--execution-segment", in.segment, "--execution-segment-sequence", sequence,
		"--out", "flood="+collector+"?instance="+in.name)
	args = append(append(args, extra...), k.Script)
	argv := append(append(slices.Clone(in.launch), k.Bin), args...)
	cmd := pgroup.Command(argv[0], argv[1:]...)
	// Local instances see it; one launched elsewhere (ssh) only where the
	// launch command passes the environment on.
	cmd.Env = append(os.Environ(), k6RequestEnv(job)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start k6 (%s): %w", strings.Join(argv[:len(in.launch)+1], " "), err)
	}
	in.cmd, in.done = cmd, make(chan error, 1)
	go func() {
		in.done <- cmd.Wait()
		logf.Close()
	}()
	return nil
}

// waitPaused waits until the instance's REST API says its test is paused:
// started (for this level, when something else starts it) and waiting for
// the go. A local instance that exits first fails at once.
func waitPaused(ctx context.Context, in *k6Instance) error {
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get("http://" + in.addr + "/v1/status")
		if err == nil {
			var st struct {
				Data struct {
					Attributes struct {
						Paused bool `json:"paused"`
					} `json:"attributes"`
				} `json:"data"`
			}
			derr := json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && derr == nil && st.Data.Attributes.Paused {
				return nil
			}
		}
		select {
		case err := <-in.done: // nil for an instance started elsewhere: never ready
			in.done <- err
			return fmt.Errorf("k6 %s exited before it was ready (%v): see %s", in.name, err, in.log)
		case <-ctx.Done():
			if in.cmd == nil {
				return fmt.Errorf("k6 %s: no paused k6 answered at %s: start it for the level with --paused --address %s --out flood=…", in.name, in.addr, in.addr)
			}
			return fmt.Errorf("k6 %s: REST API at %s did not answer: %w", in.name, in.addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// resumeAll resumes every instance at once (one request each, in
// parallel) and returns how far apart their answers came.
func resumeAll(ctx context.Context, insts []*k6Instance) (time.Duration, error) {
	body := []byte(`{"data":{"type":"status","id":"default","attributes":{"paused":false}}}`)
	var wg sync.WaitGroup
	at := make([]time.Time, len(insts))
	errs := make([]error, len(insts))
	for i, in := range insts {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, "http://"+in.addr+"/v1/status", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			at[i] = time.Now()
			if err != nil {
				errs[i] = fmt.Errorf("resume k6 %s: %w", in.name, err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs[i] = fmt.Errorf("resume k6 %s: %s", in.name, resp.Status)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	first, last := at[0], at[0]
	for _, t := range at {
		if t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	return last.Sub(first), nil
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// remote runs a level on k6 instances started elsewhere with `--out
// flood=<collector>` and the script asking the collector for the level's
// job (k6/x/flood's job(__ENV.FLOOD_JOB)): each host restarts its k6 for
// every level (a loop, a k6-operator TestRun per level). With Remote the
// instances start paused and the harness waits until every REST API
// answers paused and resumes them together; with External they start by
// themselves once the job is published (k6-operator's starter resumes its
// runners). Either way the harness waits for one final snapshot per
// instance and merges them. The collector listens on the fixed
// k6.collector address the instances were given.
func (k Driver) remote(ctx context.Context, job level, c result.Client, col *k6out.Collector) (result.Client, error) {
	ths, thErr := k.k6Thresholds(ctx, job)
	if thErr != nil {
		c.K6ThresholdsNote = thErr.Error() + ": the instances judged their own shares, if started with thresholds"
	}
	ctx, cancel := context.WithTimeout(ctx, k6Wait+job.Warmup+job.Duration+job.Grace+time.Minute)
	defer cancel()
	var insts []*k6Instance
	for i, addr := range k.Remote {
		in := &k6Instance{name: fmt.Sprintf("remote-%d", i+1), addr: addr, segment: "(its own)", exit: -1}
		if err := waitPaused(ctx, in); err != nil {
			return c, err
		}
		insts = append(insts, in)
	}
	want := max(len(insts), k.External)
	start := time.Now()
	if len(insts) > 0 {
		spread, err := resumeAll(ctx, insts)
		if err != nil {
			return c, err
		}
		c.K6ResumeSpreadMs = float64(spread.Microseconds()) / 1000
	}
	var finals []k6out.Snapshot
	for {
		finals = finals[:0]
		for _, s := range col.Snapshots() {
			if s.Final {
				finals = append(finals, s)
			}
		}
		if len(finals) >= want {
			break
		}
		select {
		case <-ctx.Done():
			return c, fmt.Errorf("k6 instances elsewhere: %d of %d sent their final snapshot before the level's time ran out", len(finals), want)
		case <-time.After(50 * time.Millisecond):
		}
	}
	c.DurationS = time.Since(start).Seconds()
	for _, s := range finals {
		fig := figures(s)
		fig.Name, fig.Segment, fig.Exit = s.Instance, "(its own)", -1
		c.K6Instances = append(c.K6Instances, fig)
	}
	return k.merged(c, finals, ths, thErr)
}

// k6Wait bounds the wait for instances started elsewhere to be ready.
const k6Wait = 2 * time.Minute
