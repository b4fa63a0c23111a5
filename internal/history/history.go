// Package history keeps the runs a gate judged, one JSON line each in an
// append-only file per scenario (DIR/<scenario>.jsonl): per target ×
// level × metric the median of the run's repeats with its spread, the
// commit, the time and the host's fingerprint. Small (no profiles, no
// series), readable by a person, rewritten atomically on every append.
package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/floodharness/harness/internal/compare"
	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/stats"
)

// Schema names the format of a history line.
const Schema = "flood-harness/history/v1"

// Entry is one judged run.
type Entry struct {
	Schema   string    `json:"schema"`
	Scenario string    `json:"scenario"`
	SHA256   string    `json:"scenario_sha256"`
	Flags    []string  `json:"flags,omitempty"` // laid over the scenario file
	Commit   string    `json:"commit"`
	Time     time.Time `json:"time"`
	Host     Host      `json:"host"`
	Figures  []Figure  `json:"figures"`
}

// Host is what a series is kept apart by: another runner starts another
// series.
type Host struct {
	CPUModel string `json:"cpu_model"`
	CPUs     int    `json:"cpus"`
	Kernel   string `json:"kernel"`
	Cgroup   string `json:"cgroup"`
	Go       string `json:"go"`
}

// Figure is one target × level × metric of a run: the median of its
// repeats, their range and count.
type Figure struct {
	Target string  `json:"target"`
	Level  int     `json:"level"`
	Metric string  `json:"metric"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// Of is the entry for a run, from the commit given.
func Of(r *result.Results, commit string) Entry {
	e := Entry{Schema: Schema, Scenario: r.Scenario.Name, SHA256: r.Scenario.SHA256, Flags: r.Scenario.Flags, Commit: commit, Time: r.StartedAt.UTC(),
		Host: Host{CPUModel: r.Host.CPUModel, CPUs: r.Host.CPUs, Kernel: r.Host.Kernel, Cgroup: r.Host.Cgroup, Go: r.Host.Go}}
	for _, tg := range r.Targets() {
		for _, l := range r.Levels() {
			runs := r.Select(tg, l)
			for _, m := range compare.Metrics() {
				var v []float64
				for _, run := range runs {
					if x, ok := m.Of(run); ok {
						v = append(v, x)
					}
				}
				if len(v) == 0 {
					continue
				}
				e.Figures = append(e.Figures, Figure{Target: tg, Level: l, Metric: m.Name, Median: stats.Median(v), Min: slices.Min(v), Max: slices.Max(v), N: len(v)})
			}
		}
	}
	return e
}

// File is the history file of a scenario in dir.
func File(dir, scenario string) string { return filepath.Join(dir, scenario+".jsonl") }

// Append adds e to its scenario's file in dir, atomically: the file is
// read, e added, and a temporary file renamed over it, so an interrupted
// append loses nothing already kept.
func Append(dir string, e Entry) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := File(dir, e.Scenario)
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	line, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	if len(old) > 0 && old[len(old)-1] != '\n' {
		old = append(old, '\n')
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(append(old, line...), '\n'), 0o644); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// Read reads a history file: bad input names its line.
func Read(path string) ([]Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e Entry
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return nil, fault.Errorf(fault.BadInput, "%s:%d: %v", path, n, err)
		}
		if e.Schema != Schema {
			return nil, fault.Errorf(fault.BadInput, "%s:%d: schema %q, want %q", path, n, e.Schema, Schema)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// Change is a change point over a series of a history, for the worse.
type Change struct {
	Target string
	Level  int
	Metric compare.Metric
	stats.ChangePoint
	// Since is the commit of the first run after the change, Ago how many
	// runs ago that was (1: the newest).
	Since string
	Ago   int
}

// Options are the change-point search's own, and the least change a
// timing series (latency, throughput) must make to count.
type Options struct {
	stats.ChangeOptions
	TimingMagnitude float64
}

// Defaults of the change-point search: a change of at least 5% in memory,
// significant at p ≤ 0.005 (Welch's t over the runs either side), with at
// least 3 runs each side; a timing must move at least 25%. Measured with
// make bench-history (30 unchanged runs of quick.yaml on this project's
// 2-core VM, 2026-12-03; internal/history/testdata): no series had a
// change point for the worse judged after any of the runs; p ≤ 0.01 had
// one, p ≤ 0.05 five. Timings drifted with the shared machine by up to
// 17% [10%, 24%] over minutes (p50 up, throughput down, nothing
// changed), which a 5% floor failed at 13 of the 30 runs. A 15% step in
// a peak was caught within 3 to 4 runs where the peak's run-to-run spread
// is 1–3%, 7 where it is 6%; Otava's p ≤ 0.001 took 4 to 9.
var Defaults = Options{ChangeOptions: stats.ChangeOptions{MinSegment: 3, MaxP: 0.005, MinMagnitude: 0.05}, TimingMagnitude: 0.25}

// Regressions are the series of entries (those of the newest's host only:
// another runner starts another series) whose newest runs sit after a
// significant change for the worse, and notes on what was left out.
func Regressions(entries []Entry, o Options) ([]Change, []string) {
	if len(entries) == 0 {
		return nil, nil
	}
	newest := entries[len(entries)-1]
	var same []Entry
	var notes []string
	others := map[string]int{} // runs of another scenario, by its name
	for _, e := range entries {
		switch {
		case e.Scenario != newest.Scenario:
			others[e.Scenario]++
		case e.Host == newest.Host:
			same = append(same, e)
		}
	}
	ofThis := len(entries)
	for _, name := range slices.Sorted(maps.Keys(others)) {
		notes = append(notes, fmt.Sprintf("history: %d runs are of another scenario (%q, not %q): left out", others[name], name, newest.Scenario))
		ofThis -= others[name]
	}
	if elsewhere := ofThis - len(same); elsewhere > 0 {
		notes = append(notes, fmt.Sprintf("history: %d of %d runs were on another host; this host's series has %d (a new runner starts a new series)", elsewhere, ofThis, len(same)))
	}
	for i := len(same) - 1; i > 0; i-- {
		if a, b := same[i-1].SHA256, same[i].SHA256; a != "" && b != "" && a != b {
			notes = append(notes, fmt.Sprintf("history: the scenario file changed %d runs ago (sha256 %.12s → %.12s, at %s): a change point there may be the scenario's, not the code's", len(same)-i, a, b, orUnnamed(same[i].Commit)))
			break
		}
		if a, b := same[i-1].Flags, same[i].Flags; !slices.Equal(a, b) {
			notes = append(notes, fmt.Sprintf("history: the flags laid over the scenario file changed %d runs ago (%q → %q, at %s): a change point there may be theirs, not the code's", len(same)-i, a, b, orUnnamed(same[i].Commit)))
			break
		}
	}
	type key struct {
		target, metric string
		level          int
	}
	series := map[key][]float64{}
	commits := map[key][]string{}
	var order []key
	for _, e := range same {
		for _, f := range e.Figures {
			k := key{f.Target, f.Metric, f.Level}
			if _, ok := series[k]; !ok {
				order = append(order, k)
			}
			series[k] = append(series[k], f.Median)
			commits[k] = append(commits[k], e.Commit)
		}
	}
	var out []Change
	for _, k := range order {
		m, ok := MetricNamed(k.metric)
		xs := series[k]
		if !ok || len(xs) < 2*o.MinSegment {
			continue
		}
		cps := stats.ChangePoints(xs, o.of(k.metric))
		if len(cps) == 0 {
			continue
		}
		last := cps[len(cps)-1]
		if (last.MeanR-last.MeanL)*float64(m.Worse) <= 0 {
			continue // the latest change was for the better
		}
		out = append(out, Change{Target: k.target, Level: k.level, Metric: m, ChangePoint: last, Since: commits[k][last.Index], Ago: len(xs) - last.Index})
	}
	return out, notes
}

// MetricNamed is the compared metric of that name.
func MetricNamed(name string) (compare.Metric, bool) {
	for _, m := range compare.Metrics() {
		if m.Name == name {
			return m, true
		}
	}
	return compare.Metric{}, false
}

// String is the change in the gate's words: "streamed c=16 peak rose 15%
// [11%, 19%] from c8 (5 runs ago)".
func (c Change) String() string {
	verb := "rose"
	if c.MeanR < c.MeanL {
		verb = "fell"
	}
	since := orUnnamed(c.Since)
	return fmt.Sprintf("%s c=%d %s %s %.0f%% [%.0f%%, %.0f%%] from %.12s (%d runs ago)", c.Target, c.Level, c.Metric.Name, verb,
		100*abs(c.Rel()), 100*c.Low, 100*c.High, since, c.Ago)
}

// orUnnamed is a commit, or what stands for one not recorded.
func orUnnamed(commit string) string {
	if commit == "" {
		return "an unnamed commit"
	}
	return commit
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// ChangePoints are the change points of a series of metric, with the
// defaults.
func ChangePoints(metric string, xs []float64) []stats.ChangePoint {
	return stats.ChangePoints(xs, Defaults.of(metric))
}

// of is the search's options for a series of metric: a timing's least
// change is TimingMagnitude.
func (o Options) of(metric string) stats.ChangeOptions {
	so := o.ChangeOptions
	if m, ok := MetricNamed(metric); ok && (m.Unit == "ms" || m.Unit == "MB/s") {
		so.MinMagnitude = max(so.MinMagnitude, o.TimingMagnitude)
	}
	return so
}
