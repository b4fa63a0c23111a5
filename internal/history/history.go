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
	e := Entry{Schema: Schema, Scenario: r.Scenario.Name, SHA256: r.Scenario.SHA256, Commit: commit, Time: r.StartedAt.UTC(),
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
