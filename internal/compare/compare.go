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
	"strings"

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
	c := &Comparison{A: a, B: b, Notes: Notes(a, b, "A")}
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

// flagsOf says a run's flags over its scenario file.
func flagsOf(s result.Scenario) string {
	if len(s.Flags) == 0 {
		return "none"
	}
	return strings.Join(s.Flags, " ")
}

// Notes say what makes b not the same experiment as a (called name):
// another scenario (its file's sha256, or its name), another host — the
// words the gate and compare both print.
func Notes(a, b *result.Results, name string) []string {
	var out []string
	switch {
	case a.Scenario.SHA256 != "" && b.Scenario.SHA256 != "" && a.Scenario.SHA256 != b.Scenario.SHA256:
		out = append(out, fmt.Sprintf("%s ran another scenario file (%s sha256 %.12s…, now %s sha256 %.12s…): its requests may differ, and so may what the figures mean",
			name, a.Scenario.File, a.Scenario.SHA256, b.Scenario.File, b.Scenario.SHA256))
	case a.Scenario.Name != b.Scenario.Name:
		out = append(out, fmt.Sprintf("%s ran a scenario of another name (%s, now %s)", name, a.Scenario.Name, b.Scenario.Name))
	case !slices.Equal(a.Scenario.Flags, b.Scenario.Flags):
		out = append(out, fmt.Sprintf("%s laid other flags over its scenario file (%s, now %s): its requests may differ, and so may what the figures mean",
			name, flagsOf(a.Scenario), flagsOf(b.Scenario)))
	}
	ha, hb := a.Host, b.Host
	var host []string
	if ha.CPUs != hb.CPUs {
		host = append(host, fmt.Sprintf("CPUs %d → %d", ha.CPUs, hb.CPUs))
	}
	if ha.CPUModel != "" && hb.CPUModel != "" && ha.CPUModel != hb.CPUModel {
		host = append(host, fmt.Sprintf("CPU %s → %s", ha.CPUModel, hb.CPUModel))
	}
	if ha.MemBytes != 0 && hb.MemBytes != 0 && math.Abs(float64(hb.MemBytes-ha.MemBytes)) > 0.05*float64(ha.MemBytes) {
		host = append(host, fmt.Sprintf("memory %.1f → %.1f GiB", float64(ha.MemBytes)/(1<<30), float64(hb.MemBytes)/(1<<30)))
	}
	if ha.Kernel != "" && hb.Kernel != "" && ha.Kernel != hb.Kernel {
		host = append(host, fmt.Sprintf("kernel %s → %s", ha.Kernel, hb.Kernel))
	}
	if ha.Cgroup != hb.Cgroup || ha.CgroupMode != hb.CgroupMode {
		host = append(host, fmt.Sprintf("cgroup %s → %s", hostCgroup(ha), hostCgroup(hb)))
	}
	if len(host) > 0 {
		out = append(out, name+" ran on another host: "+strings.Join(host, ", "))
	}
	return out
}

func hostCgroup(h result.Host) string {
	if h.CgroupMode != "" {
		return h.Cgroup + " (" + h.CgroupMode + ")"
	}
	return h.Cgroup
}
