package gate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
)

// CapacityMethod is how capacity rules decide.
const CapacityMethod = "capacity rules compare each target's confirmed capacity (harness capacity: the most concurrent clients served completely under the cap, passing every confirmation trial) " +
	"with min, or with the baseline's: it may fall by at most the tolerance (lower is worse); a target that reached --max counts as at least that"

// capacityRules are the rules on metric capacity, which only a
// capacity.json can answer.
func capacityRules(g *scenario.Gate) []scenario.Rule {
	var out []scenario.Rule
	for _, r := range g.Rules {
		if r.Metric == "capacity" {
			out = append(out, r)
		}
	}
	return out
}

// CapacityBaseline is where a capacity baseline lies beside the rules'
// results baseline: capacity.json in the same folder.
func CapacityBaseline(g *scenario.Gate) string {
	if g.Baseline == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(g.Baseline), "capacity.json")
}

// runCapacity is Run for a capacity.json.
func runCapacity(o RunOptions) error {
	cur, err := result.ReadCapacity(o.Current)
	if err != nil {
		return err
	}
	rulesPath := o.Rules
	if rulesPath == "" {
		rulesPath = cur.Scenario.File
	}
	g, err := scenario.LoadGate(rulesPath)
	if err != nil {
		return err
	}
	basePath := o.Baseline
	if basePath == "" {
		basePath = CapacityBaseline(g)
	}
	if o.UpdateBaseline {
		if basePath == "" {
			return fault.Errorf(fault.BadInput, "--update-baseline: no baseline path (--baseline, or gate.baseline in %s: capacity.json goes beside it)", rulesPath)
		}
		if old, err := result.ReadCapacity(basePath); err == nil && !o.Force && old.Scenario.Name != cur.Scenario.Name && old.Scenario.File != cur.Scenario.File {
			return fault.Errorf(fault.BadInput, "--update-baseline: %s is the capacity baseline of another scenario (%q); it is kept: --force replaces it", basePath, old.Scenario.Name)
		}
		if err := os.MkdirAll(filepath.Dir(basePath), 0o755); err != nil {
			return err
		}
		if err := result.WriteCapacity(basePath, cur); err != nil {
			return err
		}
		fmt.Fprintf(o.Stdout, "capacity baseline updated: %s (from %s)\n", basePath, o.Current)
		return nil
	}
	var base *result.Capacity
	if basePath != "" {
		if base, err = result.ReadCapacity(basePath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		} else if err != nil {
			base = nil
		}
	}
	rep, err := EvaluateCapacity(cur, base, g)
	if err != nil {
		return err
	}
	return emit(o, rep, nil, func(b *bytes.Buffer) error { return WriteCapacityBMF(b, cur) })
}

// EvaluateCapacity applies g's capacity rules to cur (and base).
func EvaluateCapacity(cur, base *result.Capacity, g *scenario.Gate) (*Report, error) {
	rules := capacityRules(g)
	if len(rules) == 0 {
		return nil, &BadRuleError{File: g.File, Msg: "a capacity.json is judged by rules on metric capacity ({metric: capacity, min: N} or tolerance: 10%): the rules have none"}
	}
	if cur.Partial {
		return nil, &BadRuleError{File: g.File, Msg: "the capacity search did not finish (partial: true): its capacities are not judged"}
	}
	rep := &Report{Method: CapacityMethod}
	for _, src := range rules {
		r, err := parseCapacityRule(src, g.File, base != nil)
		if err != nil {
			return nil, err
		}
		for _, t := range cur.Targets {
			if src.Target != "" && src.Target != t.Target {
				continue
			}
			rep.Checks = append(rep.Checks, checkCapacity(r, t, base))
		}
	}
	if len(rep.Checks) == 0 {
		return nil, &BadRuleError{File: g.File, Msg: "no capacity rule matched a target of the capacity.json"}
	}
	return rep, nil
}

func parseCapacityRule(src scenario.Rule, file string, haveBase bool) (rule, error) {
	r := rule{src: src, m: metric{name: "capacity", unit: "clients", worse: -1}}
	bad := func(msg string) error { return &BadRuleError{File: file, Line: src.Line, Msg: msg} }
	var err error
	if r.min, err = bound(src.Min, r.m); err != nil {
		return r, bad("min: " + err.Error())
	}
	if src.Max != "" {
		return r, bad("capacity: a higher capacity is never worse; want min: or tolerance:")
	}
	if src.Tolerance != "" {
		t, err := parseTolerance(src.Tolerance)
		if err != nil {
			return r, bad("tolerance: " + err.Error())
		}
		if !haveBase {
			return r, bad("capacity tolerance: needs a baseline capacity.json (--baseline, or capacity.json beside gate.baseline)")
		}
		r.tolerance = &t
	}
	if r.min == nil && r.tolerance == nil {
		return r, bad("capacity: want min: N or tolerance: 10%")
	}
	return r, nil
}

// checkCapacity judges one target, with the verdict in words.
func checkCapacity(r rule, t result.CapacityTarget, base *result.Capacity) Check {
	c := Check{Rule: r.describe(), RuleLine: r.src.Line, Metric: "capacity", Unit: "clients", Target: t.Target, Pass: true,
		Current: float64(t.Capacity), HasCurrent: true}
	under := fmt.Sprintf("under %.0f MiB", float64(t.LimitBytes)/(1<<20))
	if t.Error != "" { // no answer: the gate fails closed
		c.Pass, c.HasCurrent, c.Note = false, false, "no capacity measured: "+t.Error
		return c
	}
	if r.min != nil && c.Current < *r.min {
		c.Pass = false
		c.Note = fmt.Sprintf("capacity %s is %d concurrent downloads, below min %.0f", under, t.Capacity, *r.min)
	}
	if r.tolerance == nil {
		return c
	}
	i := slices.IndexFunc(base.Targets, func(b result.CapacityTarget) bool { return b.Target == t.Target })
	if i < 0 {
		c.Note = joinNote(c.Note, "not in the baseline")
		return c
	}
	b := base.Targets[i]
	c.Baseline, c.HasBaseline = float64(b.Capacity), true
	allowed := c.Baseline * (1 - *r.tolerance)
	switch {
	case c.Current < allowed:
		c.Pass = false
		c.Note = joinNote(c.Note, fmt.Sprintf("capacity %s fell from %d to %d concurrent downloads (allowed down to %.1f)", under, b.Capacity, t.Capacity, allowed))
	case t.Capacity < b.Capacity:
		c.Note = joinNote(c.Note, fmt.Sprintf("capacity %s fell from %d to %d, within the tolerance", under, b.Capacity, t.Capacity))
	case t.Capacity > b.Capacity:
		c.Note = joinNote(c.Note, fmt.Sprintf("capacity %s rose from %d to %d concurrent downloads", under, b.Capacity, t.Capacity))
	default:
		c.Note = joinNote(c.Note, fmt.Sprintf("capacity %s held at %d", under, t.Capacity))
	}
	return c
}

// WriteCapacityBMF writes each target's capacity in the Bencher Metric
// Format, as the measure capacity-clients.
func WriteCapacityBMF(w *bytes.Buffer, c *result.Capacity) error {
	out := map[string]map[string]bmfMetric{}
	for _, t := range c.Targets {
		out[c.Scenario.Name+"/"+t.Target] = map[string]bmfMetric{"capacity-clients": {Value: float64(t.Capacity)}}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
