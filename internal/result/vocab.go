package result

import "strconv"

// The words results.json is written in. Each is declared once, here, and
// every package that writes or reads one uses these names.

// PeakSource says which measure a run's peak_rss_bytes is.
type PeakSource string

const (
	// PeakVmHWM is the kernel's high-water mark of one process's RSS
	// (VmHWM, or ru_maxrss at reaping, whichever is larger).
	PeakVmHWM PeakSource = "vmhwm"
	// PeakCgroupAnon is, for a process tree in a cgroup, the highest
	// anonymous memory of the cgroup the sampler saw (memory.stat anon, v1
	// total_rss): every process's own memory, shared pages once, no page cache.
	PeakCgroupAnon PeakSource = "cgroup_anon"
	// PeakPSS is, for a process tree without a cgroup, the highest sum of
	// the processes' PSS the sampler saw: shared pages shared out, once.
	PeakPSS PeakSource = "pss"
	// PeakCgroup is, for a container target, the kernel's peak charge of
	// the container's cgroup (memory.peak, v1 memory.max_usage_in_bytes),
	// page cache included: what the container's memory limit counts. (Files
	// of schema v1 also used it for process trees.)
	PeakCgroup PeakSource = "cgroup"
	// PeakSampled (the summed RSS of a tree, shared pages counted once per
	// process) is what trees reported before schema v1's runs measured
	// them as above; results files that hold it still read.
	PeakSampled PeakSource = "sampled"
	// PeakSampledMemory is, for an attached target whose kernel peak could
	// not be reset between levels, the highest of its one measure the
	// sampler saw (one process's RSS, its cgroup's anon, or PSS): the
	// kernel's peak would hold earlier levels' too.
	PeakSampledMemory PeakSource = "attached_sampled"
)

// LimitBy says how memory.limit was enforced on a run's target.
type LimitBy string

const (
	// LimitNone: the scenario set no limit.
	LimitNone LimitBy = ""
	// LimitCgroup: a memory cgroup; the kernel OOM-kills at the cap.
	LimitCgroup LimitBy = "cgroup"
	// LimitSystemdScope: the user's systemd put the target in a scope with
	// MemoryMax (systemd-run --user --scope); the kernel OOM-kills at the
	// cap, as with LimitCgroup.
	LimitSystemdScope LimitBy = "systemd-scope"
	// LimitWatchdog: no cgroup could be made; the harness kills the target
	// when a sample reaches the cap, so the peak can overshoot it by what
	// grows within one sample interval.
	LimitWatchdog LimitBy = "watchdog"
)

// HeapMode is when a heap profile is taken: the scenario's
// memory.heap_profile, and a run's heap_profile_at (never off there).
type HeapMode string

const (
	HeapPeak HeapMode = "peak" // near the sampled RSS peak
	HeapEnd  HeapMode = "end"  // after the flood
	HeapOff  HeapMode = "off"  // never
)

// HeapModes lists the modes a scenario may name.
func HeapModes() []HeapMode { return []HeapMode{HeapPeak, HeapEnd, HeapOff} }

// BodyCheck is how a client checks bodies as they stream: the scenario's
// request.validate and `harness load --validate`.
type BodyCheck string

const (
	CheckNone   BodyCheck = "none"
	CheckJSON   BodyCheck = "json"
	CheckNDJSON BodyCheck = "ndjson"
	CheckCSV    BodyCheck = "csv"
	// CheckUpload: the answer is {"bytes": N, "sha256": "…"} of what
	// arrived, and must be what the request sent (the reference server's
	// /upload).
	CheckUpload BodyCheck = "upload"
)

// BodyChecks lists the checks there are.
func BodyChecks() []BodyCheck {
	return []BodyCheck{CheckNone, CheckJSON, CheckNDJSON, CheckCSV, CheckUpload}
}

// Outcomes of one request: a run's errors and resumed_by count the ones
// that are failures, by these names.
const (
	OutcomeOK          = "ok"
	OutcomeInvalid     = "invalid_body"    // not the format it claims
	OutcomeTruncated   = "truncated"       // ended before the format says it is complete
	OutcomeErrorRecord = "error_record"    // well-formed, but carries an {"error": …} record
	OutcomeStalled     = "stalled"         // no byte for request.timeout
	OutcomeConnect     = "connect"         // could not connect or send
	OutcomeAborted     = "aborted"         // the client hung up on purpose (abort_after_bytes)
	OutcomeCutOff      = "cut_off"         // still running when the grace period ended
	OutcomeIDGap       = "id_gap"          // a row id that does not follow the last: a row lost or repeated
	OutcomeUploadDiff  = "upload_mismatch" // validate upload: the server got other bytes than were sent
	OutcomeLogin       = "login"           // not sent: its client's login failed (login:)
	// OutcomeResetBeforeResponse is a kept-alive connection that died
	// before the response began (a killed worker's): the client's
	// transport sent the request again on a new one, which counts apart.
	OutcomeResetBeforeResponse = "reset_before_response"
	// OutcomeK6Failed is a request k6 counted in http_req_failed; k6's
	// summary does not say why.
	OutcomeK6Failed = "http_req_failed"
)

// StatusOutcome names a response refused with an HTTP status: status_503.
func StatusOutcome(code int) string { return "status_" + strconv.Itoa(code) }

// The load drivers: a scenario's driver key, and a run's driver (absent
// for the built-in client).
const (
	DriverBuiltin = "harness"
	DriverK6      = "k6"
)
