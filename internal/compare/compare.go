// Package compare sets two runs' results side by side: every target ×
// level × metric with both medians, the change and, where both runs have
// repeats enough, whether the shift is significant (Mann–Whitney); and it
// says where the two runs cannot be compared as they stand (another
// scenario, another host). It renders nothing: report writes its tables.
package compare

import (
	"fmt"
	"math"
	"slices"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/stats"
)

// Metric is one figure a run has, with which way is worse.
type Metric struct {
	Name  string
	Unit  string // MiB, ms, MB/s, or "" for a ratio
	Worse int    // +1: larger is worse; -1: smaller is worse
	Of    func(result.Run) (float64, bool)
}

// Metrics are the figures compared, in the order tables show them.
func Metrics() []Metric {
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	served := func(r result.Run) bool { return r.Error == "" }
	return []Metric{
		{"peak", "MiB", +1, func(r result.Run) (float64, bool) { return mib(r.PeakRSSBytes), served(r) && r.PeakRSSBytes > 0 }},
		{"retained", "MiB", +1, func(r result.Run) (float64, bool) { return mib(r.RetainedBytes), served(r) && r.AfterRSSBytes > 0 }},
		{"ok ratio", "", -1, func(r result.Run) (float64, bool) {
			return float64(r.OK) / float64(max(r.Requests, 1)), r.Requests > 0
		}},
		{"p50", "ms", +1, func(r result.Run) (float64, bool) { return r.LatencyMs.P50, served(r) && r.OK > 0 }},
		{"p99", "ms", +1, func(r result.Run) (float64, bool) { return r.LatencyMs.P99, served(r) && r.OK > 0 }},
		{"throughput", "MB/s", -1, func(r result.Run) (float64, bool) { return r.MBps(), served(r) && r.DurationS > 0 }},
	}
}

// Row is one target × level × metric, A beside B.
type Row struct {
	Target string
	Level  int
	Metric Metric
	// A and B are the medians of each run's repeats (HasA, HasB: the run
	// has the figure there), NA and NB how many repeats.
	A, B       float64
	HasA, HasB bool
	NA, NB     int
	// P is the one-sided Mann–Whitney p-value of B worse than A where both
	// have at least MinRepeats repeats, else NaN.
	P float64
}

// MinRepeats is how many repeats a side needs before a shift is tested:
// with 3 a side, p ≤ 0.05 means no overlap at all.
const MinRepeats = 3

// Change is B − A, and its share of A (NaN where A is 0 or either is
// missing).
func (r Row) Change() (float64, float64) {
	if !r.HasA || !r.HasB {
		return math.NaN(), math.NaN()
	}
	d := r.B - r.A
	if r.A == 0 {
		return d, math.NaN()
	}
	return d, d / r.A
}

// Worse says whether B moved the wrong way.
func (r Row) Worse() bool {
	d, _ := r.Change()
	return d*float64(r.Metric.Worse) > 0
}

// Comparison is two runs side by side.
type Comparison struct {
	A, B  *result.Results
	Rows  []Row
	Notes []string // why the two may not compare as they stand
}

// Of compares b with a.
func Of(a, b *result.Results) *Comparison {
	c := &Comparison{A: a, B: b, Notes: notes(a, b)}
	var targets []string
	for _, r := range []*result.Results{a, b} {
		for _, t := range r.Targets() {
			if !slices.Contains(targets, t) {
				targets = append(targets, t)
			}
		}
	}
	levels := slices.Sorted(slices.Values(append(a.Levels(), b.Levels()...)))
	levels = slices.Compact(levels)
	for _, tg := range targets {
		for _, l := range levels {
			ra, rb := a.Select(tg, l), b.Select(tg, l)
			if len(ra) == 0 && len(rb) == 0 {
				continue
			}
			for _, m := range Metrics() {
				va, vb := values(ra, m), values(rb, m)
				if len(va) == 0 && len(vb) == 0 {
					continue
				}
				row := Row{Target: tg, Level: l, Metric: m, NA: len(va), NB: len(vb), P: math.NaN()}
				row.A, row.HasA = median(va)
				row.B, row.HasB = median(vb)
				if len(va) >= MinRepeats && len(vb) >= MinRepeats {
					row.P = stats.MannWhitneyP(va, vb, m.Worse)
				}
				c.Rows = append(c.Rows, row)
			}
		}
	}
	return c
}

func values(runs []result.Run, m Metric) []float64 {
	var out []float64
	for _, r := range runs {
		if v, ok := m.Of(r); ok {
			out = append(out, v)
		}
	}
	return out
}

func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	return stats.Median(v), true
}

// notes say what makes two runs not the same experiment: another
// scenario (its file's sha256), another host.
func notes(a, b *result.Results) []string {
	var out []string
	switch {
	case a.Scenario.SHA256 != "" && b.Scenario.SHA256 != "" && a.Scenario.SHA256 != b.Scenario.SHA256:
		out = append(out, fmt.Sprintf("the two ran different scenarios (%s sha256 %.12s…, %s sha256 %.12s…): their requests may differ, and so may what the figures mean",
			a.Scenario.File, a.Scenario.SHA256, b.Scenario.File, b.Scenario.SHA256))
	case a.Scenario.Name != b.Scenario.Name:
		out = append(out, fmt.Sprintf("the two ran scenarios of different names (%s, %s)", a.Scenario.Name, b.Scenario.Name))
	}
	ha, hb := a.Host, b.Host
	if ha.CPUs != hb.CPUs || ha.CPUModel != hb.CPUModel || ha.Kernel != hb.Kernel || ha.Cgroup != hb.Cgroup {
		out = append(out, fmt.Sprintf("measured on different hosts (%d × %s, %s, cgroup %s; %d × %s, %s, cgroup %s): a change may be the host's",
			ha.CPUs, orUnknown(ha.CPUModel), ha.Kernel, ha.Cgroup, hb.CPUs, orUnknown(hb.CPUModel), hb.Kernel, hb.Cgroup))
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown CPU"
	}
	return s
}
