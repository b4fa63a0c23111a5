package gate

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/floodharness/harness/internal/compare"
	"github.com/floodharness/harness/internal/heapprof"
	"github.com/floodharness/harness/internal/report"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
	"github.com/floodharness/harness/internal/stats"
)

// Method is how tolerance rules decide, printed with every verdict.
const Method = "tolerance rules compare the median of the current repeats with the baseline's median; " +
	"the allowed change is the tolerance plus the larger of a per-metric floor (2 MiB for memory, 256 KiB/client for slopes, " +
	"5 ms, 5 MB/s, 0.01 of ok ratio) and half the wider min–max range of the two runs' repeats; " +
	"when both runs have at least 3 repeats, a one-sided Mann–Whitney U test must also find the shift significant (p ≤ 0.05; with 3 repeats a side that means no overlap at all). " +
	"Absolute max/min rules bound the median of the repeats."

// Check is one verdict: a rule applied to one target at one level (level 0
// for per-target metrics such as peak_rss_slope).
type Check struct {
	Rule        string
	RuleLine    int
	Metric      string
	Unit        string
	Target      string
	Level       int
	Baseline    float64
	HasBaseline bool
	Current     float64
	HasCurrent  bool
	Pass        bool
	Note        string
}

// Report is every check of one gate run.
type Report struct {
	Checks []Check
	Method string
	// Notes are what a reader must know to trust the checks: the host the
	// baseline ran on differs from the current one, and how.
	Notes []string
	// HeapDiffs say, per target, which functions' heap grew against the
	// baseline.
	HeapDiffs []heapprof.RunDiff
	// Single says the current run measured every level once (and how to
	// repeat it); "" with repeats.
	Single string
	// Demands say, per target killed at its memory limit, what it would
	// have needed and how many clients the limit holds (an estimate).
	Demands map[string]result.Demand
}

// Failed counts the failing checks.
func (r *Report) Failed() int {
	n := 0
	for _, c := range r.Checks {
		if !c.Pass {
			n++
		}
	}
	return n
}

// Options are the inputs of a gate run.
type Options struct {
	Current  *result.Results
	Baseline *result.Results // nil when there is none; tolerance rules then fail to parse
	Rules    *scenario.Gate
	// CurrentDir and BaselineDir are where the results files lie: the heap
	// profiles they name are found from there.
	CurrentDir, BaselineDir string
	// AllowPartial judges results of an interrupted run; otherwise they
	// fail the gate.
	AllowPartial bool
	// AllowHostChange lets a tolerance rule compare runs whose peak source
	// or cap mechanism differ from the baseline's (they measure different
	// things); otherwise such checks fail.
	AllowHostChange bool
}

// Evaluate applies the rules. A rule that cannot apply is a *BadRuleError.
func Evaluate(o Options) (*Report, error) {
	rules, err := parseRules(o.Rules, o.Current.Targets(), "the current results")
	if err != nil {
		return nil, err
	}
	rep := &Report{Method: Method, Single: report.SingleNote(o.Current)}
	if o.Baseline != nil {
		rep.Notes = compare.Notes(o.Baseline, o.Current, "the baseline")
	}
	if o.Current.Partial && !o.AllowPartial {
		rep.Checks = append(rep.Checks, Check{Rule: "complete results", Metric: "partial", Target: "all", Note: fmt.Sprintf(
			"the run was interrupted after %d run(s): partial results are not judged (--allow-partial to judge them)", len(o.Current.Runs))})
	}
	var unmatched []string
	for _, r := range rules {
		if r.m.name == "capacity" {
			continue // a capacity.json's rule (runCapacity)
		}
		before := len(rep.Checks)
		if r.tolerance != nil && o.Baseline == nil {
			return nil, &BadRuleError{File: o.Rules.File, Line: r.src.Line, Msg: fmt.Sprintf("%s: a tolerance rule needs a baseline (--baseline or gate.baseline)", r.src.Metric)}
		}
		targets := o.Current.Targets()
		if r.src.Target != "" {
			targets = []string{r.src.Target}
		}
		for _, tg := range targets {
			switch r.m.name {
			case "peak_rss_slope":
				rep.Checks = append(rep.Checks, checkSlope(r, tg, o))
			default:
				for _, l := range o.Current.Levels() {
					if r.src.Level != 0 && l != r.src.Level {
						continue
					}
					if len(o.Current.Select(tg, l)) == 0 {
						continue
					}
					rep.Checks = append(rep.Checks, checkLevel(r, tg, l, o))
				}
			}
		}
		if len(rep.Checks) == before {
			unmatched = append(unmatched, (&BadRuleError{File: o.Rules.File, Line: r.src.Line,
				Msg: fmt.Sprintf("rule %s matched no run in the current results (targets %v, levels %v): a gate that checks nothing is refused",
					r.selector(), o.Current.Targets(), o.Current.Levels())}).Error())
		}
	}
	if len(unmatched) > 0 {
		return nil, &BadRuleError{File: o.Rules.File, Msg: "nothing to check:\n" + strings.Join(unmatched, "\n")}
	}
	if len(rep.Checks) == 0 {
		return nil, &BadRuleError{File: o.Rules.File, Msg: "nothing to check in a results.json: the rules are on capacity, which only a capacity.json answers (harness gate --current RUN/capacity.json)"}
	}
	if !o.AllowHostChange {
		for i := range rep.Checks {
			comparable(&rep.Checks[i], o)
		}
	}
	rep.HeapDiffs = heapprof.RunDiffs(o.Current, o.Baseline, o.CurrentDir, o.BaselineDir)
	for _, tg := range o.Current.Targets() {
		if d, ok := o.Current.Demand(tg); ok {
			if rep.Demands == nil {
				rep.Demands = map[string]result.Demand{}
			}
			rep.Demands[tg] = d
		}
	}
	return rep, nil
}

// comparable fails a tolerance check whose runs were measured differently
// from the baseline's: another peak source or cap mechanism compares
// different things.
func comparable(c *Check, o Options) {
	if !c.HasBaseline {
		return
	}
	runs := func(res *result.Results) []result.Run {
		if c.Level != 0 {
			return res.Select(c.Target, c.Level)
		}
		var out []result.Run
		for _, l := range res.Levels() {
			out = append(out, res.Select(c.Target, l)...)
		}
		return out
	}
	describe := func(rs []result.Run) string {
		var seen []string
		for _, r := range rs {
			if r.Error != "" {
				continue
			}
			s := fmt.Sprintf("peak source %s, cap %s", r.PeakRSSSource, orNone(string(r.MemoryLimitBy)))
			if !slices.Contains(seen, s) {
				seen = append(seen, s)
			}
		}
		slices.Sort(seen)
		return strings.Join(seen, " / ")
	}
	base, cur := describe(runs(o.Baseline)), describe(runs(o.Current))
	if base != cur {
		c.Pass = false
		c.Note = joinNote(c.Note, fmt.Sprintf("measured differently: baseline %s, current %s (--allow-host-change to compare anyway)", base, cur))
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func newCheck(r rule, tg string, level int) Check {
	return Check{Rule: r.describe(), RuleLine: r.src.Line, Metric: r.m.name, Unit: r.m.unit, Target: tg, Level: level, Pass: true}
}

// values are the rule's metric over the measured repeats of tg at level.
func values(r rule, res *result.Results, tg string, level int) []float64 {
	var v []float64
	for _, run := range res.Select(tg, level) {
		if run.Error != "" {
			continue
		}
		if x, ok := r.m.value(run); ok {
			v = append(v, x)
		}
	}
	return v
}

func checkLevel(r rule, tg string, level int, o Options) (c Check) {
	c = newCheck(r, tg, level)
	if r.m.name == "memory_trend" {
		defer func() { // a leak's verdict names where it is
			if c.Pass {
				return
			}
			for _, run := range o.Current.Select(tg, level) {
				if g := report.GrewMost(run); g != "" {
					c.Note = joinNote(c.Note, g)
					break
				}
			}
		}()
	}
	if r.oomNever {
		for _, run := range o.Current.Select(tg, level) {
			if run.OOMKilled {
				c.Pass, c.Note = false, report.Killed(run)
			}
		}
		c.Current, c.HasCurrent = boolf(!c.Pass), true
		return c
	}
	if r.m.peak() && (o.Current.KilledAt(tg, level) || r.tolerance != nil && o.Baseline != nil && o.Baseline.KilledAt(tg, level)) {
		return checkKilled(c, r, tg, level, o)
	}
	cur := values(r, o.Current, tg, level)
	if len(cur) == 0 {
		c.Pass, c.Note = false, "not measured"
		return c
	}
	c.Current, c.HasCurrent = stats.Median(cur), true
	if r.m.peak() {
		// Near a kernel cap, the cap's own figure beside a VmHWM peak.
		for _, run := range o.Current.Select(tg, level) {
			if run.AtTheCap() {
				c.Note = joinNote(c.Note, report.CapNote(run))
				break
			}
		}
	}
	bounds(&c, r)
	if r.tolerance != nil {
		base := values(r, o.Baseline, tg, level)
		if len(base) == 0 {
			c.Note = joinNote(c.Note, "not in the baseline")
			return c
		}
		c.Baseline, c.HasBaseline = stats.Median(base), true
		noise := math.Max(r.m.floor, math.Max(spread(base), spread(cur))/2)
		if regressed(r, c.Baseline, c.Current, noise) {
			if len(base) >= 3 && len(cur) >= 3 {
				p := stats.MannWhitneyP(base, cur, r.m.worse)
				if p > 0.05 {
					c.Note = joinNote(c.Note, fmt.Sprintf("beyond tolerance, but not significant (Mann–Whitney p=%.2f)", p))
					return c
				}
				c.Note = joinNote(c.Note, fmt.Sprintf("Mann–Whitney p=%.3f", p))
			}
			c.Pass = false
			c.Note = joinNote(c.Note, fmt.Sprintf("allowed up to %s", format(limit(r, c.Baseline, noise), r.m.unit)))
		}
	}
	return c
}

// checkKilled judges a peak rule at a level killed at the memory cap in
// either run: a killed level's peak is the cap's, so comparing it says
// nothing. Killed now and not before fails; killed in both compares what
// each would have needed there (the line through its uncapped levels);
// killed only in the baseline passes.
func checkKilled(c Check, r rule, tg string, level int, o Options) Check {
	curK := o.Current.KilledAt(tg, level)
	baseK := o.Baseline != nil && o.Baseline.KilledAt(tg, level)
	cur, curOK := o.Current.DemandAt(tg, level)
	switch {
	case curK && r.tolerance != nil && baseK:
		base, baseOK := o.Baseline.DemandAt(tg, level)
		if !curOK || !baseOK {
			c.Note = "killed at the cap in both runs: compared by that verdict (too few uncapped levels to estimate what it would need)"
			return c
		}
		c.Current, c.HasCurrent, c.Baseline, c.HasBaseline = cur, true, base, true
		c.Note = "killed at the cap in both runs: compared by the demand estimate (what it would need here, from the uncapped levels), not the cap against itself"
		if noise := r.m.floor; regressed(r, base, cur, noise) {
			c.Pass = false
			c.Note = joinNote(c.Note, fmt.Sprintf("allowed up to %s", format(limit(r, base, noise), r.m.unit)))
		}
		return c
	case curK:
		c.Pass = false
		c.Note = "now killed at the cap"
		if curOK {
			c.Current, c.HasCurrent = cur, true
			c.Note += " (current: the demand estimate from the uncapped levels)"
		}
		if r.tolerance != nil {
			if base := values(r, o.Baseline, tg, level); len(base) > 0 {
				c.Baseline, c.HasBaseline = stats.Median(base), true
				c.Note += "; the baseline served this level"
			}
		}
		return c
	}
	if v := values(r, o.Current, tg, level); len(v) > 0 {
		c.Current, c.HasCurrent = stats.Median(v), true
	}
	bounds(&c, r)
	c.Note = joinNote(c.Note, "the baseline was killed at the cap here; now it lives")
	return c
}

func checkSlope(r rule, tg string, o Options) Check {
	c := newCheck(r, tg, 0)
	cur, ok := o.Current.PeakSlope(tg)
	if !ok {
		c.Pass, c.Note = false, "needs at least two measured levels"
		return c
	}
	c.Current, c.HasCurrent = cur, true
	bounds(&c, r)
	if r.tolerance != nil {
		base, ok := o.Baseline.PeakSlope(tg)
		if !ok {
			c.Note = joinNote(c.Note, "not in the baseline")
			return c
		}
		c.Baseline, c.HasBaseline = base, true
		// As for levels: the noise the repeats show widens the tolerance,
		// here the spread of the slopes each repeat alone gives.
		noise := math.Max(r.m.floor, math.Max(spread0(repeatSlopes(o.Baseline, tg)), spread0(repeatSlopes(o.Current, tg)))/2)
		if regressed(r, base, cur, noise) {
			c.Pass = false
			c.Note = joinNote(c.Note, fmt.Sprintf("allowed up to %s", format(limit(r, base, noise), r.m.unit)))
		}
	}
	return c
}

// repeatSlopes is the peak slope of tg fitted to each repeat alone (the
// runs with that repeat number at every level).
func repeatSlopes(res *result.Results, tg string) []float64 {
	byRepeat := map[int]*result.Results{}
	for _, run := range res.Runs {
		if run.Target != tg || run.Error != "" {
			continue
		}
		if byRepeat[run.Repeat] == nil {
			byRepeat[run.Repeat] = &result.Results{}
		}
		byRepeat[run.Repeat].Runs = append(byRepeat[run.Repeat].Runs, run)
	}
	var out []float64
	for _, r := range byRepeat {
		if s, ok := r.PeakSlope(tg); ok {
			out = append(out, s)
		}
	}
	return out
}

// spread0 is spread, 0 for fewer than two values.
func spread0(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	return spread(v)
}

func bounds(c *Check, r rule) {
	if r.max != nil && c.Current > *r.max {
		c.Pass, c.Note = false, joinNote(c.Note, "above max "+format(*r.max, r.m.unit))
	}
	if r.min != nil && c.Current < *r.min {
		c.Pass, c.Note = false, joinNote(c.Note, "below min "+format(*r.min, r.m.unit))
	}
}

// limit is the worst value a tolerance rule allows.
func limit(r rule, base, noise float64) float64 {
	if r.m.worse > 0 {
		return base + math.Abs(base)**r.tolerance + noise
	}
	return base - math.Abs(base)**r.tolerance - noise
}

func regressed(r rule, base, cur, noise float64) bool {
	if r.m.worse > 0 {
		return cur > limit(r, base, noise)
	}
	return cur < limit(r, base, noise)
}

func spread(v []float64) float64 {
	return slices.Max(v) - slices.Min(v)
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
