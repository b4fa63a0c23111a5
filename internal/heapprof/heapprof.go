package heapprof

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/floodharness/harness/internal/result"
	"github.com/google/pprof/profile"
)

// JSONTop reads a heap top that a non-Go target computed itself, such
// as a Python app's tracemalloc: [{"func": "app.py:42", "inuse_bytes": N}],
// largest first, at most n of them.
func JSONTop(data []byte, n int) ([]result.HeapFunc, error) {
	var top []result.HeapFunc
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("parse heap top: %w", err)
	}
	sort.SliceStable(top, func(i, j int) bool { return top[i].InuseBytes > top[j].InuseBytes })
	return top[:min(n, len(top))], nil
}

// Top parses a heap profile and returns the n functions holding the
// most in-use bytes, each allocation charged to the innermost frame outside
// the Go runtime (runtime.growslice tells nobody anything), or to the
// site its entry label names.
func Top(data []byte, n int) ([]result.HeapFunc, error) {
	p, err := profile.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse heap profile: %w", err)
	}
	by, err := inuseBySite(p)
	if err != nil {
		return nil, err
	}
	top := make([]result.HeapFunc, 0, len(by))
	for f, v := range by {
		if v > 0 {
			top = append(top, result.HeapFunc{Func: f, InuseBytes: v})
		}
	}
	SortTop(top)
	return top[:min(n, len(top))], nil
}

// SortTop orders a heap top largest first, ties by name: one order for
// every top, pprof's and a runtime's own.
func SortTop(top []result.HeapFunc) {
	sort.Slice(top, func(i, j int) bool {
		if top[i].InuseBytes != top[j].InuseBytes {
			return top[i].InuseBytes > top[j].InuseBytes
		}
		return top[i].Func < top[j].Func
	})
}

// EntryLabel is the sample label that names a sample's site where the
// profile was made from a runtime's own heap top (heap: auto: tracemalloc,
// ObjectSpace, a V8 snapshot, heaptrack): the name the run's top gives
// it, which a frame's function alone would not (a library's frame "via"
// the server's own).
const EntryLabel = "entry"

// allocSite names a sample's site: its entry label, else the innermost
// frame outside the Go runtime.
func allocSite(s *profile.Sample) string {
	if e := s.Label[EntryLabel]; len(e) == 1 {
		return e[0]
	}
	leaf := "unknown"
	for _, loc := range s.Location {
		for _, ln := range loc.Line { // innermost first, inlined frames included
			if ln.Function == nil {
				continue
			}
			name := ln.Function.Name
			if leaf == "unknown" {
				leaf = name
			}
			if !strings.HasPrefix(name, "runtime.") {
				return name
			}
		}
	}
	return leaf
}

// DiffOf is Diff for pprof profiles, JSONDiff for JSON heap tops (jsonTop):
// the one choice between them, for two profiles of the same target.
func DiffOf(jsonTop bool, cur, base []byte, n int) ([]Delta, error) {
	if jsonTop {
		return JSONDiff(cur, base, n)
	}
	return Diff(cur, base, n)
}

// Delta is how one function's in-use heap changed between two
// profiles: the growth, and what it holds now.
type Delta = result.HeapDelta

// Diff subtracts base from cur the way `go tool pprof -diff_base`
// does (base scaled by −1, then merged) and returns the n functions whose
// in-use bytes grew most, charged to allocation sites as Top charges
// them.
func Diff(cur, base []byte, n int) ([]Delta, error) {
	pc, err := profile.Parse(bytes.NewReader(cur))
	if err != nil {
		return nil, fmt.Errorf("parse current heap profile: %w", err)
	}
	pb, err := profile.Parse(bytes.NewReader(base))
	if err != nil {
		return nil, fmt.Errorf("parse baseline heap profile: %w", err)
	}
	now, err := inuseBySite(pc)
	if err != nil {
		return nil, err
	}
	pb.Scale(-1)
	merged, err := profile.Merge([]*profile.Profile{pc, pb})
	if err != nil {
		return nil, fmt.Errorf("diff heap profiles: %w", err)
	}
	delta, err := inuseBySite(merged)
	if err != nil {
		return nil, err
	}
	return topDeltas(delta, now, n), nil
}

// JSONDiff is Diff for heap tops a target computed itself
// (tracemalloc): only the functions in either top can be compared.
func JSONDiff(cur, base []byte, n int) ([]Delta, error) {
	ct, err := JSONTop(cur, 1<<20)
	if err != nil {
		return nil, err
	}
	bt, err := JSONTop(base, 1<<20)
	if err != nil {
		return nil, err
	}
	now, delta := map[string]int64{}, map[string]int64{}
	for _, f := range ct {
		now[f.Func] += f.InuseBytes
		delta[f.Func] += f.InuseBytes
	}
	for _, f := range bt {
		delta[f.Func] -= f.InuseBytes
	}
	return topDeltas(delta, now, n), nil
}

// inuseBySite sums a profile's in-use bytes (which may be negative in a
// diff) by allocation site.
func inuseBySite(p *profile.Profile) (map[string]int64, error) {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "inuse_space" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("parse heap profile: no inuse_space sample type")
	}
	by := map[string]int64{}
	for _, s := range p.Sample {
		if v := s.Value[idx]; v != 0 {
			by[allocSite(s)] += v
		}
	}
	return by, nil
}

// topDeltas are the n largest growths, largest first.
func topDeltas(delta, now map[string]int64, n int) []Delta {
	out := make([]Delta, 0, len(delta))
	for f, d := range delta {
		if d > 0 {
			out = append(out, Delta{Func: f, DeltaBytes: d, InuseBytes: now[f]})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].DeltaBytes != out[j].DeltaBytes {
			return out[i].DeltaBytes > out[j].DeltaBytes
		}
		return out[i].Func < out[j].Func
	})
	return out[:min(n, len(out))]
}
