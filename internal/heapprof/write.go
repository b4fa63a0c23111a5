package heapprof

import (
	"bytes"
	"fmt"

	"github.com/google/pprof/profile"
)

// Frame is one frame of a stack as a runtime names it: its function,
// file and line (0 where the runtime does not say).
type Frame struct {
	Func string `json:"func"`
	File string `json:"file"`
	Line int64  `json:"line"`
}

// Entry is one site of a heap top a runtime gave (heap: auto): its name,
// what it holds, and the stack that held the most of it, innermost frame
// first (none: the entry is one frame of its name).
type Entry struct {
	Func       string
	InuseBytes int64
	Stack      []Frame
}

// Write makes a heap top a pprof heap profile (gzipped protobuf, what `go
// tool pprof` opens): one sample of inuse_space per entry, on its stack's
// frames, labelled with the entry's name (EntryLabel), which Top and Diff
// read back, so the saved profile and the run's top agree. source says
// what took it (a comment, and the mapping's file).
func Write(source string, entries []Entry) ([]byte, error) {
	p := &profile.Profile{
		SampleType:        []*profile.ValueType{{Type: "inuse_space", Unit: "bytes"}},
		DefaultSampleType: "inuse_space",
		PeriodType:        &profile.ValueType{Type: "space", Unit: "bytes"},
		Period:            1,
		Comments:          []string{source},
	}
	m := &profile.Mapping{ID: 1, File: source, HasFunctions: true, HasFilenames: true, HasLineNumbers: true}
	p.Mapping = []*profile.Mapping{m}
	funcs := map[[2]string]*profile.Function{}
	locs := map[Frame]*profile.Location{}
	location := func(fr Frame) *profile.Location {
		if l, ok := locs[fr]; ok {
			return l
		}
		fn, ok := funcs[[2]string{fr.Func, fr.File}]
		if !ok {
			fn = &profile.Function{ID: uint64(len(p.Function) + 1), Name: fr.Func, SystemName: fr.Func, Filename: fr.File}
			funcs[[2]string{fr.Func, fr.File}] = fn
			p.Function = append(p.Function, fn)
		}
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Mapping: m, Line: []profile.Line{{Function: fn, Line: fr.Line}}}
		locs[fr] = l
		p.Location = append(p.Location, l)
		return l
	}
	for _, e := range entries {
		stack := e.Stack
		if len(stack) == 0 {
			stack = []Frame{{Func: e.Func}}
		}
		s := &profile.Sample{Value: []int64{e.InuseBytes}, Label: map[string][]string{EntryLabel: {e.Func}}}
		for _, fr := range stack {
			s.Location = append(s.Location, location(fr))
		}
		p.Sample = append(p.Sample, s)
	}
	if err := p.CheckValid(); err != nil {
		return nil, fmt.Errorf("heap profile of %s: %w", source, err)
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
