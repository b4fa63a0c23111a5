package heaphook

import (
	"fmt"

	"github.com/floodharness/harness/internal/heapprof"
	"github.com/floodharness/harness/internal/result"
)

// Frame is one frame of an entry's stack, as the runtime names it.
type Frame = heapprof.Frame

// entry is one site of a top: its name, what it holds, and the stack that
// held the most of it, innermost frame first.
type entry struct {
	Func       string  `json:"func"`
	InuseBytes int64   `json:"inuse_bytes"`
	Stack      []Frame `json:"stack"`
}

// tally sums entries by name; each name keeps the stack of its largest
// part (workers running the same code hold memory at the same sites).
type tally struct {
	sizes  map[string]int64
	stacks map[string][]Frame
	most   map[string]int64
}

func (t *tally) add(e entry) {
	if t.sizes == nil {
		t.sizes, t.stacks, t.most = map[string]int64{}, map[string][]Frame{}, map[string]int64{}
	}
	t.sizes[e.Func] += e.InuseBytes
	if _, ok := t.stacks[e.Func]; !ok || e.InuseBytes > t.most[e.Func] {
		t.stacks[e.Func], t.most[e.Func] = e.Stack, e.InuseBytes
	}
}

// top is the n largest, with their stacks.
func (t *tally) top(n int) ([]result.HeapFunc, map[string][]Frame) {
	funcs := make([]result.HeapFunc, 0, len(t.sizes))
	for f, b := range t.sizes {
		funcs = append(funcs, result.HeapFunc{Func: f, InuseBytes: b})
	}
	heapprof.SortTop(funcs)
	funcs = funcs[:min(n, len(funcs))]
	stacks := make(map[string][]Frame, len(funcs))
	for _, f := range funcs {
		if s := t.stacks[f.Func]; len(s) > 0 {
			stacks[f.Func] = s
		}
	}
	return funcs, stacks
}

// Profile is the top as a pprof heap profile (heapprof.Write): each
// entry's bytes on the stack that held the most of them, the runtime's
// own frames, labelled with the entry's name, so the saved profile and
// the run's top agree. An entry the runtime gave no stack (a Node Buffer
// named by what holds it) is one frame of its name.
func (t *Top) Profile() ([]byte, error) {
	entries := make([]heapprof.Entry, len(t.Funcs))
	for i, f := range t.Funcs {
		entries[i] = heapprof.Entry{Func: f.Func, InuseBytes: f.InuseBytes, Stack: t.Stacks[f.Func]}
	}
	return heapprof.Write(fmt.Sprintf("%s, %d process(es)", t.Mechanism, t.Processes), entries)
}
