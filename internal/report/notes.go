package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/result"
)

// The sentences every output says of a run (the console, the report,
// summary.md, the gate's notes and capacity's reasons), written once.

// AcceptQueueNote says how often the server's accept queue overflowed
// during the flood ("" when it did not): the server's (or the host's)
// limit, which clients see as connect failures, not the client's.
func AcceptQueueNote(r result.Run, somaxconn int) string {
	if r.ListenOverflows <= 0 {
		return ""
	}
	s := fmt.Sprintf("the server's accept queue overflowed %d times", r.ListenOverflows)
	if somaxconn > 0 {
		s += fmt.Sprintf(" (somaxconn %d)", somaxconn)
	}
	return s
}

// TCPMemoryNote says the host's TCP ran out of buffer memory during the
// flood ("" when it did not).
func TCPMemoryNote(r result.Run) string {
	if r.TCPMemoryPressures <= 0 {
		return ""
	}
	return fmt.Sprintf("the host's TCP entered memory pressure %d times (net.ipv4.tcp_mem: the kernel drops packets; %d SYNs sent again)", r.TCPMemoryPressures, r.SynRetrans)
}

// Killed says what killed the target at its memory limit: "OOM-killed"
// (the kernel, in the target's cgroup) or "killed by the watchdog" (the
// harness, at a sampled RSS); "" when it lived.
func Killed(r result.Run) string {
	switch {
	case !r.OOMKilled:
		return ""
	case r.MemoryLimitBy == result.LimitWatchdog:
		return "killed by the watchdog"
	}
	return "OOM-killed"
}

// CapNote says, for a run under a kernel cap whose peak is not what the
// cap counts (a process's VmHWM beside its cgroup's charge, page cache
// included), what the cap saw: "cgroup charge 510.0 MiB of the 512 MiB
// cap", and "at the cap: the kernel reclaimed page cache; not killed" when
// the charge reached it without a kill. "" otherwise.
func CapNote(r result.Run) string {
	if !r.CapCountsOtherwise() {
		return ""
	}
	note := fmt.Sprintf("cgroup charge %.1f MiB of the %.0f MiB cap", float64(r.CgroupPeakBytes)/(1<<20), float64(r.MemoryLimitBytes)/(1<<20))
	if r.AtTheCap() {
		note += "; at the cap: the kernel reclaimed page cache; not killed"
	}
	return note
}

// GrewMost names the function whose heap grew most over the part of a
// long run its memory trend was fit over, in the words every output uses
// ("grew most: main.cache +12.0 MiB since the steady part began"), or ""
// when no profile diff shows growth.
func GrewMost(r result.Run) string {
	if len(r.HeapGrowth) == 0 || r.HeapGrowth[0].DeltaBytes <= 0 {
		return ""
	}
	g := r.HeapGrowth[0]
	return fmt.Sprintf("grew most: %s %+.1f MiB since the steady part began", g.Func, float64(g.DeltaBytes)/(1<<20))
}

// SingleNote says, when every level was measured once, that the figures are
// single measurements and how to get more ("" with repeats). Identical
// single runs here differed by 30% at a level.
func SingleNote(r *result.Results) string {
	for _, run := range r.Runs {
		if run.Repeat > 0 {
			return ""
		}
	}
	if len(r.Runs) == 0 {
		return ""
	}
	return fmt.Sprintf("Each level was measured once: these are single measurements, and an identical run can differ by tens of percent at a level. "+
		"For medians, a spread and a significance test in the gate: `bin/harness run --repeats 3 %s`", r.Scenario.File)
}

// BoundsNote is what else a capacity was searched under, as words after
// "under the cap" ("" for none): ", with p99 ≤ 2s and 503s with
// Retry-After counted as served".
func BoundsNote(f *result.Capacity) string {
	var parts []string
	if f.P99BoundMs > 0 {
		parts = append(parts, fmt.Sprintf("p99 ≤ %v", time.Duration(f.P99BoundMs*float64(time.Millisecond))))
	}
	if f.AllowShed {
		parts = append(parts, "503s with Retry-After counted as served")
	}
	if len(parts) == 0 {
		return ""
	}
	return ", with " + strings.Join(parts, " and ")
}
