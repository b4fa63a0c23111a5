package gate

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
	"github.com/floodharness/harness/internal/units"
	"slices"
)

// BadRuleError is a rule that cannot be applied: an unknown metric or
// target, a malformed bound. It names the rules file and line.
type BadRuleError struct {
	File string
	Line int
	Msg  string
}

func (e *BadRuleError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// FaultKind makes a bad rule bad input.
func (e *BadRuleError) FaultKind() fault.Kind { return fault.BadInput }

// metric is something a rule can bound.
type metric struct {
	name  string
	unit  string  // bytes, ratio, ms, MB/s, bytes/client, count
	worse int     // +1: higher is worse; -1: lower is worse
	floor float64 // the smallest change a tolerance rule may call a regression
	value func(result.Run) (float64, bool)
}

// peak: the metric is a peak, which a level killed at the cap holds at
// the cap's value, not the target's demand.
func (m metric) peak() bool { return m.name == "peak_rss_bytes" || m.name == "sampled_peak_rss_bytes" }

func metrics() []metric {
	served := func(f func(result.Run) float64) func(result.Run) (float64, bool) {
		return func(r result.Run) (float64, bool) { return f(r), r.OK > 0 }
	}
	always := func(f func(result.Run) float64) func(result.Run) (float64, bool) {
		return func(r result.Run) (float64, bool) { return f(r), true }
	}
	return []metric{
		{"peak_rss_bytes", "bytes", +1, 2 << 20, always(func(r result.Run) float64 { return float64(r.PeakRSSBytes) })},
		{"sampled_peak_rss_bytes", "bytes", +1, 2 << 20, always(func(r result.Run) float64 { return float64(r.SampledPeakRSSBytes) })},
		{"idle_rss_bytes", "bytes", +1, 2 << 20, always(func(r result.Run) float64 { return float64(r.IdleRSSBytes) })},
		// A run's memory trend, counted only when judged growing (a flat
		// one reads 0): {metric: memory_trend, max: 1MiB/min}.
		{"memory_trend", "bytes/min", +1, 0, func(r result.Run) (float64, bool) {
			if t := r.MemoryTrend; t != nil && t.Verdict != result.TrendTooShort {
				if t.Verdict == result.TrendGrowing {
					return t.BytesPerMin, true
				}
				return 0, true
			}
			return 0, false
		}},
		// What the flood left behind, memory.settle after it (runs that read it).
		{"retained_bytes", "bytes", +1, 2 << 20, func(r result.Run) (float64, bool) { return float64(r.RetainedBytes), r.AfterRSSBytes > 0 }},
		{"ok_ratio", "ratio", -1, 0.01, always(result.Run.OKRatio)},
		{"latency_p50_ms", "ms", +1, 5, served(func(r result.Run) float64 { return r.LatencyMs.P50 })},
		{"latency_p99_ms", "ms", +1, 5, served(func(r result.Run) float64 { return r.LatencyMs.P99 })},
		{"mbps", "MB/s", -1, 5, always(result.Run.MBps)},
		{"failed", "count", +1, 0, always(func(r result.Run) float64 { return float64(r.Failed) })},
		// One value per target: least-squares slope of the levels' median peaks.
		{"peak_rss_slope", "bytes/client", +1, 256 << 10, nil},
		{"oom", "", +1, 0, nil},
		// Judged on a capacity.json (harness capacity), never on runs.
		{"capacity", "clients", -1, 0, nil},
	}
}

func metricNames() string {
	var n []string
	for _, m := range metrics() {
		n = append(n, m.name)
	}
	return strings.Join(n, ", ")
}

// rule is a parsed, checked scenario.Rule.
type rule struct {
	src       scenario.Rule
	m         metric
	max, min  *float64
	tolerance *float64 // fraction: 0.1 for "10%"
	oomNever  bool
}

// CheckRules parses and checks a scenario's gate rules against its targets, so
// a bad rule is reported when the scenario is run, not after the sweep. A
// rule naming a target the run leaves out (--targets) is no error: the
// notes say it has nothing to check in this run, and why.
func CheckRules(sc *scenario.Scenario) ([]string, error) {
	if sc.Gate == nil {
		return nil, nil
	}
	g := *sc.Gate
	if g.File == "" {
		g.File = sc.File
	}
	names := make([]string, 0, len(sc.Targets)+len(sc.Omitted))
	for _, t := range sc.Targets {
		names = append(names, t.Name)
	}
	names = append(names, sc.Omitted...)
	var notes []string
	for _, r := range g.Rules {
		if slices.Contains(sc.Omitted, r.Target) {
			notes = append(notes, fmt.Sprintf("%s:%d: the gate rule on target %q has nothing to check in this run: %s leaves that target out", g.File, r.Line, r.Target, sc.TargetsFilter))
		}
	}
	_, err := parseRules(&g, names, "the scenario")
	return notes, err
}

// parseRules checks every rule against the metrics and the targets there
// are (in where), reporting every problem at once.
func parseRules(g *scenario.Gate, targets []string, where string) ([]rule, error) {
	var out []rule
	var errs []string
	bad := func(r scenario.Rule, format string, args ...any) {
		errs = append(errs, (&BadRuleError{File: g.File, Line: r.Line, Msg: fmt.Sprintf(format, args...)}).Error())
	}
	for _, src := range g.Rules {
		r := rule{src: src}
		found := false
		for _, m := range metrics() {
			if m.name == src.Metric {
				r.m, found = m, true
			}
		}
		if !found {
			bad(src, "metric %q: want one of %s", src.Metric, metricNames())
			continue
		}
		if src.Target != "" && !slices.Contains(targets, src.Target) {
			bad(src, "target %q: not in %s (it has %s)", src.Target, where, strings.Join(targets, ", "))
		}
		if src.Level < 0 {
			bad(src, "level %d: want a concurrency level", src.Level)
		}
		var err error
		if r.max, err = bound(src.Max, r.m); err != nil {
			bad(src, "max: %v", err)
		}
		if r.min, err = bound(src.Min, r.m); err != nil {
			bad(src, "min: %v", err)
		}
		if src.Tolerance != "" {
			t, err := parseTolerance(src.Tolerance)
			if err != nil {
				bad(src, "tolerance: %v", err)
			}
			r.tolerance = &t
		}
		switch {
		case r.m.name == "oom" && src.OOM != "never":
			bad(src, `metric oom: want oom: never`)
		case r.m.name == "oom":
			r.oomNever = true
		case src.OOM != "":
			bad(src, "oom: only for metric oom")
		case r.max == nil && r.min == nil && r.tolerance == nil:
			bad(src, "%s: give max, min or tolerance", src.Metric)
		}
		out = append(out, r)
	}
	if len(errs) > 0 {
		return nil, &BadRuleError{File: g.File, Msg: "bad rules:\n" + strings.Join(errs, "\n")}
	}
	return out, nil
}

// bound reads a max or min: sizes for byte metrics, numbers otherwise.
func bound(s string, m metric) (*float64, error) {
	if s == "" {
		return nil, nil
	}
	if strings.HasPrefix(m.unit, "bytes") {
		if b, err := units.ParseBytes(strings.TrimSuffix(strings.TrimSpace(s), "/min")); err == nil {
			v := float64(b)
			return &v, nil
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("%q is not a number (or a size such as 64MiB for %s)", s, m.name)
	}
	return &v, nil
}

func parseTolerance(s string) (float64, error) {
	t := strings.TrimSpace(s)
	div := 1.0
	if strings.HasSuffix(t, "%") {
		t, div = strings.TrimSuffix(t, "%"), 100
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q: want a share such as 10%% or 0.1", s)
	}
	return v / div, nil
}

// selector names what a rule applies to: its metric, target and level.
func (r rule) selector() string {
	s := r.m.name
	if r.src.Target != "" {
		s += " target=" + r.src.Target
	}
	if r.src.Level != 0 {
		s += fmt.Sprintf(" level=%d", r.src.Level)
	}
	return s
}

// describe is the rule as people read it in a verdict table.
func (r rule) describe() string {
	var parts []string
	if r.oomNever {
		return "oom: never"
	}
	if r.max != nil {
		parts = append(parts, "≤ "+format(*r.max, r.m.unit))
	}
	if r.min != nil {
		parts = append(parts, "≥ "+format(*r.min, r.m.unit))
	}
	if r.tolerance != nil {
		dir := "+"
		if r.m.worse < 0 {
			dir = "−"
		}
		parts = append(parts, fmt.Sprintf("within %s%g%% of baseline", dir, *r.tolerance*100))
	}
	s := r.m.name + " " + strings.Join(parts, ", ")
	if r.src.Level > 0 {
		s += fmt.Sprintf(" at c=%d", r.src.Level)
	}
	return s
}

// format prints a metric value with its unit.
func format(v float64, unit string) string {
	switch unit {
	case "bytes":
		return fmt.Sprintf("%.1f MiB", units.MiB(v))
	case "bytes/client":
		return fmt.Sprintf("%.2f MiB/client", units.MiB(v))
	case "ratio":
		return fmt.Sprintf("%.3f", v)
	case "ms":
		return fmt.Sprintf("%.1f ms", v)
	case "MB/s":
		return fmt.Sprintf("%.1f MB/s", v)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
