package flood

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.k6.io/k6/js/common"
	"go.k6.io/k6/js/modules"
	"go.k6.io/k6/metrics"

	"github.com/floodharness/harness/internal/k6out"
	"github.com/floodharness/harness/internal/loopback"
	"github.com/floodharness/harness/internal/proc"
	"github.com/floodharness/harness/internal/sample"
)

// RootModule is shared by every VU of a test run: it holds the samplers, so
// watching a target starts one sampler per run however many VUs ask.
type RootModule struct {
	mu       sync.Mutex
	watchers map[string]*memoryWatch // by target name
}

// New returns the root module k6 registers.
func New() *RootModule { return &RootModule{watchers: map[string]*memoryWatch{}} }

var _ modules.Module = (*RootModule)(nil)

// ModuleInstance is the module as one VU sees it.
type ModuleInstance struct {
	vu        modules.VU
	root      *RootModule
	registry  *metrics.Registry
	rss, peak *metrics.Metric
}

var _ modules.Instance = (*ModuleInstance)(nil)

// NewModuleInstance registers the metrics (once per registry; later calls
// return the same metrics) for a VU.
func (r *RootModule) NewModuleInstance(vu modules.VU) modules.Instance {
	env := vu.InitEnv()
	return &ModuleInstance{
		vu: vu, root: r, registry: env.Registry,
		rss:  env.Registry.MustNewMetric("target_rss_bytes", metrics.Gauge, metrics.Data),
		peak: env.Registry.MustNewMetric("target_rss_peak_bytes", metrics.Gauge, metrics.Data),
	}
}

// Exports offers watch and heapProfile as named exports and on the default.
func (m *ModuleInstance) Exports() modules.Exports {
	fns := map[string]any{"watch": m.Watch, "heapProfile": m.HeapProfile, "job": m.Job}
	return modules.Exports{Default: fns, Named: fns}
}

// WatchOptions says which process tree to sample and how often.
type WatchOptions struct {
	PID      int
	PIDFile  string
	Port     int
	Interval time.Duration
	Target   string // the "target" tag on the metrics
}

func parseWatch(o map[string]any) (WatchOptions, error) {
	w := WatchOptions{Interval: time.Second, Target: "target"}
	for k, v := range o {
		s := fmt.Sprint(v)
		var err error
		switch k {
		case "pid":
			w.PID, err = strconv.Atoi(s)
		case "pidfile":
			w.PIDFile = s
		case "port":
			w.Port, err = strconv.Atoi(s)
		case "interval":
			if n, nerr := strconv.ParseFloat(s, 64); nerr == nil {
				w.Interval = time.Duration(n * float64(time.Millisecond)) // a number is milliseconds
			} else {
				w.Interval, err = time.ParseDuration(s)
			}
		case "target":
			w.Target = s
		default:
			return w, fmt.Errorf("watch: unknown option %q (want pid, pidfile, port, interval, target)", k)
		}
		if err != nil {
			return w, fmt.Errorf("watch: %s %q: %w", k, s, err)
		}
	}
	if n := btoi(w.PID > 0) + btoi(w.PIDFile != "") + btoi(w.Port > 0); n != 1 {
		return w, errors.New("watch: give exactly one of pid, pidfile or port")
	}
	if w.Interval < time.Millisecond {
		return w, fmt.Errorf("watch: interval %v is below 1ms", w.Interval)
	}
	return w, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Watch starts sampling the process tree of opts' target, once per test
// run and target name; later calls return at once. Call it from the
// default function or setup(): metrics need a running VU.
func (m *ModuleInstance) Watch(opts map[string]any) {
	rt := m.vu.Runtime()
	w, err := parseWatch(opts)
	if err != nil {
		common.Throw(rt, err)
	}
	state := m.vu.State()
	if state == nil {
		common.Throw(rt, errors.New("watch: call it from the default function or setup(), not the init context"))
	}
	m.root.mu.Lock()
	defer m.root.mu.Unlock()
	if _, ok := m.root.watchers[w.Target]; ok {
		return
	}
	pid, err := resolvePID(w)
	if err != nil {
		common.Throw(rt, err)
	}
	wt := &memoryWatch{
		rss: m.rss, peak: m.peak,
		tags: m.registry.RootTagSet().With("target", w.Target),
		out:  state.Samples,
	}
	m.root.watchers[w.Target] = wt
	wt.start(m.vu.Context(), pid, w.Interval)
}

// resolvePID finds the root process to sample.
func resolvePID(w WatchOptions) (int, error) {
	switch {
	case w.PID > 0:
		return w.PID, nil
	case w.PIDFile != "":
		b, err := os.ReadFile(w.PIDFile)
		if err != nil {
			return 0, fmt.Errorf("watch: pidfile: %w", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return 0, fmt.Errorf("watch: pidfile %s: %w", w.PIDFile, err)
		}
		return pid, nil
	}
	pid, err := proc.ListenerPID(w.Port)
	if err != nil {
		return 0, fmt.Errorf("watch: %w", err)
	}
	return pid, nil
}

// HeapProfile saves the pprof heap profile at url (loopback only) to path
// and returns its size in bytes.
func (m *ModuleInstance) HeapProfile(url, path string) int {
	rt := m.vu.Runtime()
	if err := loopback.CheckURL(url, false); err != nil {
		common.Throw(rt, fmt.Errorf("heapProfile: %w", err))
	}
	b, err := sample.FetchHeap(m.vu.Context(), url)
	if err != nil {
		common.Throw(rt, fmt.Errorf("heapProfile: %w", err))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		common.Throw(rt, fmt.Errorf("heapProfile: %w", err))
	}
	return len(b)
}

// Job asks the harness for the level under way (its collector's /v1/job,
// e.g. __ENV.FLOOD_JOB): {url, vus, duration}, for an instance the harness
// did not start. Call it in the init context to set options from it. It
// waits while no level is under way (503), up to two minutes.
func (m *ModuleInstance) Job(url string) map[string]any {
	rt := m.vu.Runtime()
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		common.Throw(rt, fmt.Errorf("job: want the harness's http://HOST:PORT/v1/job, got %q", url))
	}
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := client.Get(url)
		if err == nil {
			var j k6out.Job
			derr := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&j)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && derr == nil {
				return map[string]any{"url": j.URL, "vus": j.VUs, "duration": j.Duration}
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		if time.Now().After(deadline) {
			common.Throw(rt, fmt.Errorf("job: %w", err))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
