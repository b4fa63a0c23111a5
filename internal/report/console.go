package report

import (
	"fmt"
	"strings"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/units"
)

// Outcome is what the console says of one run once it is measured: a line
// for each of the host's limits it ran into, then the run's own line —
// requests served, the peak and its source, and what the peak means (a
// kill at the cap, the trend, what was kept). somaxconn is the host's
// accept-queue bound.
func Outcome(run result.Run, somaxconn int) []string {
	var lines []string
	if n := AcceptQueueNote(run, somaxconn); n != "" {
		lines = append(lines, n+" during the flood: connections the server (or the host) turned away, not client failures")
	}
	if n := TCPMemoryNote(run); n != "" {
		lines = append(lines, n+" during the flood: the host's limit, not the client's")
	}
	if run.HasNoOKResponse() {
		lines = append(lines, fmt.Sprintf("%d ok / %d requests: FAILED, %s (not a flood's peak: the server served nothing)", run.OK, run.Requests, run.Error))
	} else {
		lines = append(lines, fmt.Sprintf("%d ok / %d requests%s, peak RSS %s (%s%s)%s", run.OK, run.Requests, answers(run), mibs(run.PeakRSSBytes), run.PeakRSSSource, fileBacked(run), meaning(run)))
	}
	if why := run.FailureReasons; len(why) > 0 {
		lines = append(lines, fmt.Sprintf("why %s failed (%d of them): %s", why[0].Kind, why[0].Count, why[0].Reason))
	}
	return lines
}

// fileBacked says, where much of the peak was pages backed by files (a
// mapped database, a large binary), how much, and what the cap charged:
// "; 106.0 MiB of it file-backed, the cgroup charged 12.3 MiB".
func fileBacked(run result.Run) string {
	if run.PeakRSSFileBytes < 16<<20 || run.PeakRSSFileBytes*4 < run.SampledPeakRSSBytes {
		return ""
	}
	s := fmt.Sprintf("; %s of it file-backed", mibs(run.PeakRSSFileBytes))
	if run.CapCountsOtherwise() {
		s += fmt.Sprintf(", the cgroup charged %s", mibs(run.CgroupPeakBytes))
	}
	return s
}

// answers says what became of the answers that did not complete, and how
// long one took where that is long: what a level's length must allow.
func answers(run result.Run) string {
	s := ""
	if run.CutOff > 0 {
		s = fmt.Sprintf(", %d cut off when the level ended", run.CutOff)
	}
	switch p50 := run.LatencyMs.P50 / 1000; {
	case run.Streaming():
		s += fmt.Sprintf(" (still streaming: no answer completed in %.0f s, %.1f MB received; a longer --duration, or duration auto, lets them finish)",
			run.DurationS, float64(run.BytesReceived)/1e6)
	case run.OK > 0 && p50 >= 1:
		s += fmt.Sprintf(" (an answer took %.1f s, median)", p50)
	}
	if run.Relogins > 0 {
		s += fmt.Sprintf(", %d logged in again after a 401", run.Relogins)
	}
	if run.BytesDecoded > 0 {
		s += fmt.Sprintf(", compressed: %.1f MB on the wire, %.1f MB decoded", float64(run.BytesReceived)/1e6, float64(run.BytesDecoded)/1e6)
	}
	return s
}

// meaning is what a run's peak means, after its figures.
func meaning(run result.Run) string {
	v := ""
	switch {
	case run.OOMKilled && run.MemoryLimitBy == result.LimitWatchdog:
		v = fmt.Sprintf("  KILLED by the watchdog at %s", mibs(run.MemoryLimitBytes))
	case run.OOMKilled:
		v = "  OOM-KILLED"
	}
	if run.DiedProcesses > 0 {
		v += fmt.Sprintf(" (%d worker process(es) died; the main process %s)", run.DiedProcesses, map[bool]string{true: "lived", false: "died too"}[run.MainLived])
	}
	if n := CapNote(run); n != "" && (run.OOMKilled || run.PeakRSSBytes > run.MemoryLimitBytes*9/10 || run.AtTheCap()) {
		v += " (" + n + ")" // near the cap, the cap's own figure beside the peak
	}
	if t := run.MemoryTrend; t != nil && t.Verdict != result.TrendTooShort {
		v += fmt.Sprintf("; memory %s: %+.2f MiB/min [%+.2f, %+.2f]", t.Verdict, t.BytesPerMin/(1<<20), t.Low/(1<<20), t.High/(1<<20))
		if g := GrewMost(run); g != "" && t.Verdict == result.TrendGrowing {
			v += ", " + g
		}
	}
	if run.AfterRSSBytes > 0 {
		v += fmt.Sprintf("; kept %s after the flood (idle %s)", mibs(run.AfterRSSBytes), mibs(run.IdleRSSBytes))
		switch top := run.AfterHeapTop; {
		case len(top) == 0 || run.RetainedBytes <= 8<<20:
		case top[0].InuseBytes >= minNamed:
			v += fmt.Sprintf(", held most by %s (%s)", top[0].Func, mibs(top[0].InuseBytes))
		default:
			// A top of crumbs names nothing: the memory kept is not in
			// live objects (freed, kept by the allocator).
			v += ", none of it in live objects the heap top traces (freed, kept by the allocator)"
		}
	}
	if run.HeapEvidencePeakBytes > 0 && len(run.HeapTop) > 0 && run.HeapTop[0].InuseBytes < minNamed {
		v += fmt.Sprintf("; the heap evidence (a repeat under %s whose peak was %s) held under 1 MiB in any one place at its snapshots",
			strings.SplitN(run.HeapMechanism, " (", 2)[0], mibs(run.HeapEvidencePeakBytes))
		if run.HeapNote != "" {
			v += " (" + run.HeapNote + ")"
		}
	} else if run.HeapEvidencePeakBytes > 0 && len(run.HeapTop) > 0 {
		v += fmt.Sprintf("; at the peak %s held most (%s), from a repeat under %s whose peak was %s",
			run.HeapTop[0].Func, mibs(run.HeapTop[0].InuseBytes), strings.SplitN(run.HeapMechanism, " (", 2)[0], mibs(run.HeapEvidencePeakBytes))
		if run.HeapNote != "" {
			v += " (" + run.HeapNote + ")" // what the evidence leaves out
		}
	} else if run.HeapNote != "" && (run.HeapMechanism != "" || strings.HasPrefix(run.HeapNote, "heap: auto") && run.Runtime != "go") {
		v += "; " + run.HeapNote
	}
	if run.Interrupted {
		v += "; interrupted after the flood: the flood kept, nothing read after it"
	}
	if run.Concurrency >= perConnectionFrom && !run.OOMKilled {
		v += perConnection(run)
	}
	return v
}

// perConnectionFrom is the level from which a run's console line says
// what one connection cost: at scale, that is the figure asked for.
const perConnectionFrom = 500

// perConnection says what a client cost the target and the harness, and
// how long the client's connections took to be answered.
func perConnection(run result.Run) string {
	s := ""
	if b := run.ServerBytesPerClient(); b > 0 {
		s += fmt.Sprintf("; the target %.1f KiB per client", b/1024)
	}
	if b := run.ClientBytesPerConnection(); b > 0 {
		s += fmt.Sprintf(", the harness %.1f KiB per connection (%d connected, the last %.1f s in)", b/1024, run.Connected, run.RampS)
	}
	return s
}

// mibs is "12.3 MiB".
func mibs(b int64) string { return fmt.Sprintf("%.1f MiB", units.MiB(b)) }

// minNamed is the least a heap top's first entry holds for a sentence to
// say it held the most: below it the top is crumbs (a snapshot that
// missed the answers in flight, or a server killed before its snapshot).
const minNamed = 1 << 20
