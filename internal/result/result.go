package result

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/stats"
)

// Schema names this format; bump it when a field changes meaning.
//
// v2: a process tree's peak_rss_bytes and idle_rss_bytes are one measure
// that counts shared pages once — its cgroup's anonymous memory, or the
// sum of its processes' PSS (peak_rss_source cgroup_anon, pss) — where
// v1 took the cgroup's charge (page cache included) or the sum of RSS.
// One process is measured as in v1.
//
// v3: a run's error is also set when no response was ok from a target
// that was not killed ("no ok response: …"); its numbers are then kept
// (an idle server's), where v2 recorded such a run as measured. New,
// additive: by_request, protocol, the upload_mismatch outcome.
//
// v4: memory_trend's verdict is growing only when the fit also rises at
// least trend.MinRise (4 MiB) over the steady part, where v3 needed only
// the slope's lower bound above the floor: a Go heap climbing to its GC
// goal through a short soak was growing in v3. New, additive: connected,
// ramp_s, client_base_rss_bytes, settle_s, tcp_memory_pressures,
// syn_retrans, host.somaxconn.
//
// v5: a run whose answers were all still streaming when the level ended
// (none ok, none failed, bytes received) is measured, not failed: no
// error, where v4 set "no ok response: cut_off ×N" and called it dead.
// New, additive: host.cpu_model.
const Schema = "flood-harness/results/v5"

// schemaV4 files read as they are: the same fields (a v4 failed run may be
// a v5 streaming one).
const schemaV4 = "flood-harness/results/v4"

// schemaV3 files read as they are: the same fields (a v3 growing verdict
// may be a v4 flat one).
const schemaV3 = "flood-harness/results/v3"

// schemaV2 files read as they are: the same fields.
const schemaV2 = "flood-harness/results/v2"

// schemaV1 files read as they are: the same fields, their trees measured
// the v1 way (peak_rss_source says which).
const schemaV1 = "flood-harness/results/v1"

// Results is one results.json. See docs/results.md for every field.
type Results struct {
	Schema     string     `json:"schema"`
	Scenario   Scenario   `json:"scenario"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"` // null while the sweep is still running or was interrupted
	Partial    bool       `json:"partial"`
	Host       Host       `json:"host"`
	Runs       []Run      `json:"runs"`
}

// Scenario identifies the scenario file a run came from.
type Scenario struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	// Flags are what the command line laid over the file (--duration 5s,
	// --levels 1,8), as given: a run with others is another experiment.
	Flags []string `json:"flags,omitempty"`
}

// Host is the machine the run measured on.
type Host struct {
	CPUs int `json:"cpus"`
	// CPUModel is the first CPU's model name (absent where the host does
	// not say it).
	CPUModel string `json:"cpu_model,omitempty"`
	MemBytes int64  `json:"mem_bytes"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Cgroup   string `json:"cgroup"` // v1, v2 or none: how memory caps were enforced
	// CgroupMode says where target cgroups were made (for v2: in the root
	// cgroup, in a leaf of the harness's cgroup, beside it, under the
	// root); absent without cgroups.
	CgroupMode string `json:"cgroup_mode,omitempty"`
	// Somaxconn is the host's bound on a listening socket's accept queue
	// (net.core.somaxconn): what listen_overflows ran into.
	Somaxconn int `json:"somaxconn,omitempty"`
}

// FailureReason is why requests failed: their kind (status_500,
// invalid_body, truncated…), the reason in words — where a body broke
// (the byte, what was wanted there, the bytes around it), a status code's
// first body bytes — and how many failed with that reason.
type FailureReason struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// MaxReasons is how many distinct failure reasons a run keeps.
const MaxReasons = 5

// AddReason counts one failure of kind with reason in reasons, keeping
// at most MaxReasons distinct ones (the first seen).
func AddReason(reasons []FailureReason, kind, reason string, n int64) []FailureReason {
	if reason == "" {
		return reasons
	}
	for i := range reasons {
		if reasons[i].Kind == kind && reasons[i].Reason == reason {
			reasons[i].Count += n
			return reasons
		}
	}
	if len(reasons) >= MaxReasons {
		return reasons
	}
	return append(reasons, FailureReason{Kind: kind, Reason: reason, Count: n})
}

// Run is one target at one concurrency level, one repeat.
type Run struct {
	Target      string `json:"target"`
	Concurrency int    `json:"concurrency"`
	Repeat      int    `json:"repeat"`
	// Error is set when the run could not measure (the target never became
	// healthy); the numbers below are then zero.
	Error string `json:"error,omitempty"`
	// Interrupted is set when the harness was interrupted after the flood
	// (in the settle, or the heap fetch after it): the flood's figures
	// stand, what comes after it (after_rss_bytes, retained_bytes, the
	// after-settle profile) is missing.
	Interrupted bool `json:"interrupted,omitempty"`

	// Client is what the load driver saw; its fields sit at the top level
	// of a run in JSON.
	Client

	PeakRSSBytes        int64      `json:"peak_rss_bytes"`
	PeakRSSSource       PeakSource `json:"peak_rss_source"`
	SampledPeakRSSBytes int64      `json:"sampled_peak_rss_bytes"`
	// PeakRSSAnonBytes and PeakRSSFileBytes split the sampled peak (the
	// sample of the highest RSS) into anonymous memory (RssAnon) and pages
	// backed by files or shared memory (RssFile + RssShmem): mapped files a
	// cap may never have charged (a binary, a database's mmapped blocks
	// another process wrote).
	PeakRSSAnonBytes int64 `json:"peak_rss_anon_bytes,omitempty"`
	PeakRSSFileBytes int64 `json:"peak_rss_file_bytes,omitempty"`
	IdleRSSBytes     int64 `json:"idle_rss_bytes"`
	// AfterRSSBytes is the target's memory memory.settle after the flood's
	// last request, in the same measure as idle and peak, and
	// RetainedBytes that less idle: what the flood left behind (absent
	// with settle 0, or when the target died).
	AfterRSSBytes int64 `json:"after_rss_bytes,omitempty"`
	RetainedBytes int64 `json:"retained_bytes,omitempty"`
	// SettleS is how long the target was kept running after the flood
	// before that reading (memory.settle), for the plots' settle band.
	SettleS float64 `json:"settle_s,omitempty"`
	// AfterHeapProfile and AfterHeapTop are the heap profile taken then (a
	// Go target's after a GC): what it still holds, by function.
	AfterHeapProfile string     `json:"after_heap_profile,omitempty"`
	AfterHeapTop     []HeapFunc `json:"after_heap_top,omitempty"`
	// MemoryTrend is memory's slope over a run long enough (memory.trend_min
	// after warmup), judged so a sawtooth is not a leak.
	MemoryTrend *Trend `json:"memory_trend,omitempty"`
	// SteadyHeapProfile is the heap profile taken at the start of the part
	// the trend is fit over (a run long enough for a trend, with a heap
	// endpoint), and HeapGrowth what grew from it to the after-flood
	// profile, largest first: the functions a leak is in.
	SteadyHeapProfile string      `json:"steady_heap_profile,omitempty"`
	HeapGrowth        []HeapDelta `json:"heap_growth,omitempty"`
	CgroupPeakBytes   int64       `json:"cgroup_peak_bytes"` // includes page cache; 0 without a cgroup
	// CgroupAnonPeakBytes is the highest anonymous memory the sampler saw
	// charged to the cgroup (memory.stat anon, v1 total_rss): the RSS-like part
	// of CgroupPeakBytes, sampled, so it can miss a short peak.
	CgroupAnonPeakBytes int64   `json:"cgroup_anon_peak_bytes"`
	MemoryLimitBytes    int64   `json:"memory_limit_bytes"`
	MemoryLimitBy       LimitBy `json:"memory_limit_by"`
	// MemoryLimitNote says why a limit was not a kernel cap (the watchdog
	// enforced it), and what that means.
	MemoryLimitNote string `json:"memory_limit_note,omitempty"`
	OOMKilled       bool   `json:"oom_killed"`
	// DiedProcesses counts the target's processes other than its main one
	// that died during the run (workers a pre-fork master respawns), and
	// OOMKills the processes the kernel OOM-killed in its cgroup.
	DiedProcesses int   `json:"died_processes,omitempty"`
	OOMKills      int64 `json:"oom_kills,omitempty"`
	// PeakProcesses is, for a process tree, each process's RSS at the
	// sample of the tree's highest memory (absent for one process).
	PeakProcesses []ProcessMemory `json:"peak_processes,omitempty"`
	// MainLived is false when the target's main process died of anything
	// but the harness's stop.
	MainLived bool `json:"main_lived"`
	Exit      Exit `json:"exit"`
	// Container is set for a target run from an image (target key
	// container:): the engine, the image, and the engine's own OOMKilled
	// flag, a hint beside the cgroup's counts.
	Container *Container `json:"container,omitempty"`
	// Attached is set for a server the harness did not start (target key
	// attach:): it is the same process at every level, so each level's
	// peak is its own only where the kernel's peak could be reset.
	Attached *Attached `json:"attached,omitempty"`
	// ListenOverflows and ListenDrops are how often, during the flood, a
	// listening socket's full accept queue turned a connection away on
	// this host (TcpExt ListenOverflows, ListenDrops): the server's or the
	// host's limit (somaxconn), which clients see as connect failures.
	ListenOverflows int64 `json:"listen_overflows,omitempty"`
	// TCPMemoryPressures is how often, during the flood, the host's TCP
	// entered memory pressure (TcpExt TCPMemoryPressures: the sockets'
	// buffers past net.ipv4.tcp_mem, packets dropped), and SynRetrans the
	// SYNs sent again (TCPSynRetrans): where dials time out as connect
	// with no accept queue full.
	TCPMemoryPressures int64 `json:"tcp_memory_pressures,omitempty"`
	SynRetrans         int64 `json:"syn_retrans,omitempty"`
	ListenDrops        int64 `json:"listen_drops,omitempty"`
	// Restarts and RestartGapS record chaos.restart_after: how often the
	// target was killed and restarted, and for how long it was unreachable.
	Restarts    int     `json:"restarts,omitempty"`
	RestartGapS float64 `json:"restart_gap_s,omitempty"`

	// Runtime is what the target's main process ran (python, ruby, node,
	// go, native; absent for a wrapper such as sh, or a server the
	// harness did not start), by which heap: auto's default chooses.
	Runtime string `json:"runtime,omitempty"`
	// HeapMechanism says what took the heap evidence where the harness
	// took it from outside (heap: auto), and HeapToolBytes what that
	// mechanism itself held in the target at the profile kept (tracemalloc's
	// own memory): the cost of measuring.
	HeapMechanism string `json:"heap_mechanism,omitempty"`
	HeapToolBytes int64  `json:"heap_tool_bytes,omitempty"`
	// HeapEvidencePeakBytes is the peak of the repeat the evidence came
	// from (heap: auto measures twice: the run's figures uninstrumented).
	HeapEvidencePeakBytes int64 `json:"heap_evidence_peak_bytes,omitempty"`
	// HeapNote says why a target with heap: auto has no heap top.
	HeapNote string `json:"heap_note,omitempty"`
	// HeapTrace is the native tool's own file of the evidence (heaptrack's
	// trace, gzip), relative to the run directory.
	HeapTrace string `json:"heap_trace,omitempty"`

	HeapProfile   string     `json:"heap_profile"`    // relative to the run directory
	HeapProfileAt HeapMode   `json:"heap_profile_at"` // peak or end
	HeapTop       []HeapFunc `json:"heap_top"`
	RSSSeries     string     `json:"rss_series"`
	Log           string     `json:"log"`
}

// Attached says how an attached target was found and its peak reset.
type Attached struct {
	By string `json:"by"` // pid, pid_file, cgroup or container
	// PeakReset is how the kernel's peak was reset before the level:
	// clear_refs (VmHWM), memory.peak (cgroup v2, Linux 6.12+),
	// max_usage_in_bytes (cgroup v1) or none.
	PeakReset string `json:"peak_reset"`
}

// Container says how a container target ran.
type Container struct {
	Engine          string `json:"engine"` // podman or docker
	Image           string `json:"image"`
	EngineOOMKilled bool   `json:"engine_oom_killed"`
}

// Client is what one flood's load driver saw, from the client's side. A
// results.json run and `harness load --json` write it with the same names.
type Client struct {
	Requests      int64            `json:"requests"`
	OK            int64            `json:"ok"`
	Failed        int64            `json:"failed"`
	Errors        map[string]int64 `json:"errors"`
	Aborted       int64            `json:"aborted"` // hung up on purpose (abort_after_bytes)
	CutOff        int64            `json:"cut_off"` // still running at the end of the grace period
	BytesReceived int64            `json:"bytes_received"`
	// BytesDecoded is what compressed answers decoded to (client.compressed,
	// or checked bodies with a Content-Encoding); bytes_received counts the
	// wire's.
	BytesDecoded int64 `json:"bytes_decoded,omitempty"`
	// Logins counts the clients' logins (scenario login:), Relogins those
	// after a 401 ended a session (each then asked again, once).
	Logins    int64            `json:"logins,omitempty"`
	Relogins  int64            `json:"relogins,omitempty"`
	Rows      int64            `json:"rows"`                 // rows validated, when request.validate is set
	Resumes   int64            `json:"resumes"`              // follow-up requests continuing broken exports (client.resume)
	ResumedBy map[string]int64 `json:"resumed_by,omitempty"` // what broke the resumed responses, by kind
	// FailureReasons are the first few distinct reasons of failed
	// requests, each with its kind and how many failed with it.
	FailureReasons []FailureReason `json:"failure_reasons,omitempty"`
	// Resent counts requests the client's transport sent again because
	// their kept-alive connection died before the response began; each is
	// also a failure (reset_before_response) unless client.forgive_resends.
	Resent int64 `json:"resent,omitempty"`
	// Shed counts the status_503 failures that carried Retry-After: the
	// server turned them away by design (an admission gate rejecting what
	// does not fit); they stay failures in errors.
	Shed      int64   `json:"shed,omitempty"`
	DurationS float64 `json:"duration_s"`
	LatencyMs Latency `json:"latency_ms"`
	// Protocol is what the server answered with: HTTP/1.1, HTTP/2.0.
	Protocol string `json:"protocol,omitempty"`
	// Connected is how many clients opened a connection; RampS how long
	// after the flood began the last of them did (the client paces its
	// dials, so the level it reports is the level the server accepted).
	// Built-in client over HTTP/1.1 only.
	Connected int64   `json:"connected,omitempty"`
	RampS     float64 `json:"ramp_s,omitempty"`
	// ByRequest, for a weighted mix (scenario key requests: [...]), is
	// each request's share of the counts above, by its name: they add up
	// to the totals.
	ByRequest map[string]RequestFigures `json:"by_request,omitempty"`

	// ClientCPUSeconds is the CPU time the harness spent producing the load (for
	// k6, the harness's own, not k6's), and ClientPeakRSSBytes its peak RSS.
	ClientCPUSeconds   float64 `json:"client_cpu_s"`
	ClientPeakRSSBytes int64   `json:"client_peak_rss_bytes"`
	// ClientBaseRSSBytes is the harness's RSS as the load began: the peak
	// above it over Connected is what one connection cost the client.
	ClientBaseRSSBytes int64 `json:"client_base_rss_bytes,omitempty"`

	// Driver is "k6" when k6 produced the load (absent for the built-in
	// client); DriverExit is k6's exit code (99: its thresholds failed) and
	// DriverLog its output. With k6, bytes_received is k6's data_received
	// (headers included).
	Driver     string `json:"driver,omitempty"`
	DriverExit int    `json:"driver_exit,omitempty"`
	DriverLog  string `json:"driver_log,omitempty"`
	// K6Instances, when several k6 instances shared the load (scenario
	// key k6: {instances, remote}), holds each one's own figures; the
	// counts above are their sum and the latencies come from their merged
	// histograms (exact merge, each percentile within one bucket, <1%, of
	// the union of their samples). DriverExit is the highest of theirs.
	K6Instances []K6Instance `json:"k6_instances,omitempty"`
	// K6ResumeSpreadMs is how far apart the instances were resumed (the
	// first to the last answer of k6's REST API).
	K6ResumeSpreadMs float64 `json:"k6_resume_spread_ms,omitempty"`
	// K6Thresholds are the script's thresholds judged on the merged data
	// (DriverExit 99 when one failed), when the harness could compute what
	// each aggregates; else K6ThresholdsNote says why each instance judged
	// its own share.
	K6Thresholds     []K6Threshold `json:"k6_thresholds,omitempty"`
	K6ThresholdsNote string        `json:"k6_thresholds_note,omitempty"`
}

// Trend is memory's slope over the steady part of a run (package trend).
type Trend struct {
	BytesPerMin float64 `json:"bytes_per_min"`
	Low         float64 `json:"low"`  // the 95% interval's lower bound
	High        float64 `json:"high"` // and upper
	Verdict     string  `json:"verdict"`
	Method      string  `json:"method"`
	// FromS and ToS are the part the line was fit over (seconds on the RSS
	// series' clock) and AtFromBytes the line's value at FromS: where a
	// plot draws it. Absent when too short.
	FromS       float64 `json:"from_s,omitempty"`
	ToS         float64 `json:"to_s,omitempty"`
	AtFromBytes float64 `json:"at_from_bytes,omitempty"`
}

// Trend verdicts.
const (
	TrendGrowing  = "growing"
	TrendFalling  = "falling" // the mirror of growing: memory given back
	TrendFlat     = "flat"
	TrendTooShort = "too short"
)

// RequestFigures are one mix request's figures in a run.
type RequestFigures struct {
	Requests      int64            `json:"requests"`
	OK            int64            `json:"ok"`
	Failed        int64            `json:"failed"`
	Errors        map[string]int64 `json:"errors"`
	Aborted       int64            `json:"aborted"`
	CutOff        int64            `json:"cut_off"`
	BytesReceived int64            `json:"bytes_received"`
	LatencyMs     Latency          `json:"latency_ms"`
}

// K6Threshold is one k6 threshold judged on the merged data.
type K6Threshold struct {
	Metric string  `json:"metric"`
	Expr   string  `json:"expr"` // as the script writes it: "rate<0.01"
	Value  float64 `json:"value"`
	OK     bool    `json:"ok"`
}

// K6Instance is one k6 instance's share of a level.
type K6Instance struct {
	Name          string           `json:"name"`
	Address       string           `json:"address"` // its REST API
	Segment       string           `json:"segment"`
	Requests      int64            `json:"requests"`
	OK            int64            `json:"ok"`
	Failed        int64            `json:"failed"`
	Failures      map[string]int64 `json:"failures,omitempty"`
	BytesReceived int64            `json:"bytes_received"`
	LatencyMs     Latency          `json:"latency_ms"`
	Exit          int              `json:"exit"` // -1 for a remote one
	Log           string           `json:"log,omitempty"`
}

// Latency percentiles of successful requests, to the last body byte.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Exit is how the target process ended.
type Exit struct {
	Code   int    `json:"code"`
	Signal string `json:"signal"`
}

// ProcessMemory is one process's resident memory at a sample.
type ProcessMemory struct {
	PID      int   `json:"pid"`
	RSSBytes int64 `json:"rss_bytes"`
}

// HeapFunc is in-use heap bytes charged to one function at the profile.
type HeapFunc struct {
	Func       string `json:"func"`
	InuseBytes int64  `json:"inuse_bytes"`
}

// HeapDelta is one function's growth between two heap profiles: by how
// much its in-use bytes grew, and what it holds in the later one.
type HeapDelta struct {
	Func       string `json:"func"`
	DeltaBytes int64  `json:"delta_bytes"`
	InuseBytes int64  `json:"inuse_bytes"`
}

// BadInputError is a results file that cannot be used: unreadable, not
// JSON, or of another schema.
type BadInputError struct {
	Path string
	Err  error
}

func (e *BadInputError) Error() string         { return fmt.Sprintf("%s: %v", e.Path, e.Err) }
func (e *BadInputError) Unwrap() error         { return e.Err }
func (e *BadInputError) FaultKind() fault.Kind { return fault.BadInput }

// Write stores r at path atomically: readers see the old file or the new
// one, never half of either.
func Write(path string, r *Results) error { return writeJSON(path, "results", r) }

// writeJSON writes v as indented JSON to path atomically: a temporary
// file beside it, synced, made 0644 and renamed over it, so a reader (or
// an interrupted writer) never sees half a file.
func writeJSON(path, what string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+what+"-*.json")
	if err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", what, err)
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes it 0600
		tmp.Close()
		return fmt.Errorf("write %s: %w", what, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", what, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}

// Read loads a results file, refusing unknown fields and other schemas.
func Read(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &BadInputError{path, err}
	}
	return Parse(path, b)
}

// Parse is Read on b, read from path.
func Parse(path string, b []byte) (*Results, error) {
	var r Results
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, &BadInputError{path, fmt.Errorf("not a results file: %w", err)}
	}
	if r.Schema != Schema && r.Schema != schemaV4 && r.Schema != schemaV3 && r.Schema != schemaV2 && r.Schema != schemaV1 {
		return nil, &BadInputError{path, fmt.Errorf("schema %q, want %q", r.Schema, Schema)}
	}
	return &r, nil
}

// Targets lists the targets in the order they first appear.
func (r *Results) Targets() []string {
	var out []string
	for _, run := range r.Runs {
		if !slices.Contains(out, run.Target) {
			out = append(out, run.Target)
		}
	}
	return out
}

// Levels lists the concurrency levels in ascending order.
func (r *Results) Levels() []int {
	var out []int
	for _, run := range r.Runs {
		if !slices.Contains(out, run.Concurrency) {
			out = append(out, run.Concurrency)
		}
	}
	slices.Sort(out)
	return out
}

// Select returns the runs of one target at one level, across repeats.
func (r *Results) Select(target string, level int) []Run {
	var out []Run
	for _, run := range r.Runs {
		if run.Target == target && run.Concurrency == level {
			out = append(out, run)
		}
	}
	return out
}

// Median returns the median of f over runs that measured (no Error), and
// whether there was any.
func Median(runs []Run, f func(Run) float64) (float64, bool) {
	var v []float64
	for _, r := range runs {
		if r.Error == "" {
			v = append(v, f(r))
		}
	}
	if len(v) == 0 {
		return 0, false
	}
	return stats.Median(v), true
}
