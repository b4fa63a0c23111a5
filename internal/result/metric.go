package result

import (
	"fmt"
	"slices"
	"strings"

	"github.com/floodharness/harness/internal/stats"
)

// NoOKPrefix begins the error of a run whose client got no ok response
// from a server that was not killed: a failed measurement, never a peak.
const NoOKPrefix = "no ok response"

// KindCounts writes failures by kind, most first, then by name:
// "status_404 ×9409, truncated ×2" ("" when none).
func KindCounts(m map[string]int64) string {
	kinds := make([]string, 0, len(m))
	for k, n := range m {
		if n > 0 {
			kinds = append(kinds, k)
		}
	}
	slices.SortFunc(kinds, func(a, b string) int {
		if m[a] != m[b] {
			return int(m[b] - m[a])
		}
		return strings.Compare(a, b)
	})
	for i, k := range kinds {
		kinds[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(kinds, ", ")
}

// NoOKResponse says why a client got no ok response, "no ok response:
// status_404 ×9409" (its failures by kind, most first), or "" when some
// response was ok, every request was aborted on purpose, or the server was
// still streaming answers when the level ended (Streaming: the flood
// measured it with them in flight).
func (r Client) NoOKResponse() string {
	if r.OK > 0 || (r.Requests > 0 && r.Aborted == r.Requests) || r.Streaming() {
		return ""
	}
	if r.Requests == 0 {
		return NoOKPrefix + ": no request completed"
	}
	parts := []string{}
	if k := KindCounts(r.Errors); k != "" {
		parts = append(parts, k)
	}
	if r.CutOff > 0 && r.Errors[OutcomeCutOff] == 0 {
		parts = append(parts, fmt.Sprintf("%s ×%d", OutcomeCutOff, r.CutOff))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%s: 0 of %d requests ok", NoOKPrefix, r.Requests)
	}
	return NoOKPrefix + ": " + strings.Join(parts, ", ")
}

// Streaming: no answer completed, none failed, and the server was sending
// the ones cut off when the level ended — answers that outlast the level,
// not a server that answered nothing.
func (r Client) Streaming() bool {
	return r.OK == 0 && r.Failed == 0 && r.CutOff > 0 && r.BytesReceived > 0
}

// OKRatio is the share of the requests meant to complete that did: aborted
// (on purpose) and cut-off (still running at the end) requests are left
// out. It is 1 when there was nothing to complete.
func (r Client) OKRatio() float64 {
	n := r.Requests - r.Aborted - r.CutOff
	if n <= 0 {
		return 1
	}
	return float64(r.OK) / float64(n)
}

// ServerBytesPerClient is what one client cost the target at this level:
// its peak above idle over the concurrency (0 when either is unknown).
func (r Run) ServerBytesPerClient() float64 {
	if r.Concurrency <= 0 || r.PeakRSSBytes <= 0 || r.IdleRSSBytes <= 0 {
		return 0
	}
	return float64(max(r.PeakRSSBytes-r.IdleRSSBytes, 0)) / float64(r.Concurrency)
}

// ClientBytesPerConnection is what one connection cost the harness's own
// client: its peak above its RSS at the start over the connections it
// opened (0 when unknown: k6, HTTP/2).
func (r Client) ClientBytesPerConnection() float64 {
	if r.Connected <= 0 || r.ClientBaseRSSBytes <= 0 || r.ClientPeakRSSBytes <= 0 {
		return 0
	}
	return float64(max(r.ClientPeakRSSBytes-r.ClientBaseRSSBytes, 0)) / float64(r.Connected)
}

// CapCountsOtherwise: the run was under a kernel cap whose charge was
// read and is not the peak's own source.
func (r Run) CapCountsOtherwise() bool {
	return (r.MemoryLimitBy == LimitCgroup || r.MemoryLimitBy == LimitSystemdScope) && r.MemoryLimitBytes > 0 && r.CgroupPeakBytes > 0 && r.PeakRSSSource != PeakCgroup
}

// peakRSS is a run's peak; capPeak what its cap counts. What a cap would
// need (Demand) is drawn through the second: a VmHWM holding file pages
// the cgroup was never charged for would reach the cap too soon.
func peakRSS(r Run) float64 { return float64(r.PeakRSSBytes) }
func capPeak(r Run) float64 { v, _ := r.CapPeak(); return float64(v) }

// CapPeak is the peak the run's cap counts, and what it is: under a
// kernel cap whose charge was read, the cgroup's charge (what the kernel
// holds against the cap), never a VmHWM that counts mapped file pages the
// cap never charged; else the run's own peak and its source.
func (r Run) CapPeak() (int64, string) {
	if r.CapCountsOtherwise() {
		return r.CgroupPeakBytes, "cgroup charge"
	}
	return r.PeakRSSBytes, string(r.PeakRSSSource)
}

// AtTheCap: the cap's charge reached it (98%) without a kill, the kernel
// reclaiming page cache to stay under it.
func (r Run) AtTheCap() bool {
	return r.CapCountsOtherwise() && !r.OOMKilled && float64(r.CgroupPeakBytes) >= 0.98*float64(r.MemoryLimitBytes)
}

// HasNoOKResponse: the run failed because its client got no ok response
// from a target that was not killed (its Error says which failures).
func (r Run) HasNoOKResponse() bool {
	return r.Error != "" && !r.OOMKilled && r.Error == r.Client.NoOKResponse()
}

// MBps is the body throughput in megabytes (10^6) per second.
func (r Client) MBps() float64 {
	if r.DurationS <= 0 {
		return 0
	}
	return float64(r.BytesReceived) / r.DurationS / 1e6
}

// Slope is the least-squares slope of y over x, and false when x does not
// vary. For peak RSS over concurrency it is bytes per extra client: the
// one number that says an endpoint buffers.
func Slope(x, y []float64) (float64, bool) {
	slope, _, ok := stats.Fit(x, y)
	return slope, ok
}

// PeakSlope is the target's peak RSS per extra client: the slope of the
// levels' median peaks over concurrency, and false with fewer than two
// measured levels. Levels where a repeat was killed at the memory limit
// are left out: their peak is the cap, not what the endpoint needed.
func (r *Results) PeakSlope(target string) (float64, bool) {
	s, _, ok := r.peakFit(target, peakRSS)
	return s, ok
}

// peakFit is the least-squares line of the uncapped levels' median peaks:
// bytes per client and the intercept.
func (r *Results) peakFit(target string, figure func(Run) float64) (slope, intercept float64, ok bool) {
	var xs, ys []float64
	for _, l := range r.Levels() {
		runs := r.Select(target, l)
		if slices.ContainsFunc(runs, func(run Run) bool { return run.OOMKilled }) {
			continue
		}
		m, ok := Median(runs, figure)
		if ok {
			xs, ys = append(xs, float64(l)), append(ys, m)
		}
	}
	return stats.Fit(xs, ys)
}

// DemandAt is the memory the line through target's uncapped levels gives
// at level: what a level killed at its cap would have needed, where its
// own peak is only the cap's. False with fewer than two uncapped levels or
// a line that does not grow.
func (r *Results) DemandAt(target string, level int) (float64, bool) {
	slope, intercept, ok := r.peakFit(target, capPeak)
	if !ok || slope <= 0 {
		return 0, false
	}
	return intercept + slope*float64(level), true
}

// KilledAt says whether a repeat of target at level was killed at its
// memory limit.
func (r *Results) KilledAt(target string, level int) bool {
	return slices.ContainsFunc(r.Select(target, level), func(run Run) bool { return run.OOMKilled })
}

// Demand estimates what a target killed at its memory limit would have
// needed: at the first killed level, from the line through the levels
// below the cap, and the concurrency at which that line reaches the cap.
type Demand struct {
	Level          int     // the first level killed at the limit
	NeededBytes    float64 // the estimate there
	Limit          int64
	SafeClients    float64 // where the line reaches the limit
	BytesPerClient float64
}

// Demand is the estimate for target, and false when it was not killed at
// a limit or fewer than two uncapped levels give a growing line.
func (r *Results) Demand(target string) (Demand, bool) {
	slope, intercept, ok := r.peakFit(target, capPeak)
	if !ok || slope <= 0 {
		return Demand{}, false
	}
	for _, l := range r.Levels() {
		for _, run := range r.Select(target, l) {
			if run.OOMKilled && run.MemoryLimitBytes > 0 {
				return Demand{Level: l, NeededBytes: intercept + slope*float64(l), Limit: run.MemoryLimitBytes,
					SafeClients: (float64(run.MemoryLimitBytes) - intercept) / slope, BytesPerClient: slope}, true
			}
		}
	}
	return Demand{}, false
}
