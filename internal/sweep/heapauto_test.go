package sweep

import (
	"context"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
)

// heap: auto's repeat goes where a mechanism reaches the server's
// runtime; where evidence was expected and cannot be taken, one line says
// why (a Go server's heap is not readable from outside; heaptrack missing).
func TestHeapAutoChoosesByRuntime(t *testing.T) {
	sc := &scenario.Scenario{}
	sc.Memory.HeapProfile = result.HeapPeak
	local := scenario.Target{Name: "t", Host: "127.0.0.1"}
	for _, c := range []struct {
		runtime string
		tg      scenario.Target
		repeat  bool
		why     string
	}{
		{"python", local, true, ""},
		{"node", local, true, ""},
		{"native", local, true, ""},
		{"go", local, false, "a Go heap cannot be read from outside"},
		{"", local, false, ""},
		{"python", scenario.Target{Name: "t", Host: "127.0.0.1", Pprof: "/debug/pprof/heap"}, false, ""},
		{"python", scenario.Target{Name: "t", Host: "127.0.0.1", Heap: scenario.HeapOff}, false, ""},
		{"", scenario.Target{Name: "t", Host: "127.0.0.1", Heap: scenario.HeapAuto}, true, ""},
	} {
		repeat, why := heapAuto(sc, c.tg, result.Run{Runtime: c.runtime})
		if repeat != c.repeat || (c.why == "") != (why == "") || !strings.Contains(why, c.why) {
			t.Errorf("runtime %q, target %+v: repeat %v, why %q; want %v, %q", c.runtime, c.tg, repeat, why, c.repeat, c.why)
		}
	}
	t.Setenv("PATH", t.TempDir()) // no heaptrack
	if repeat, why := heapAuto(sc, local, result.Run{Runtime: "native"}); repeat || !strings.Contains(why, "heaptrack is not installed (scripts/install-deps.sh installs it)") {
		t.Errorf("native without heaptrack: repeat %v, why %q; want no repeat, said", repeat, why)
	}
}

// heaptrack's trace is bounded: past traceCap the traced repeat's target
// is stopped, and the run says so; its own figures are the plain run's.
// (Not parallel: it lowers traceCap, which every run reads.)
func TestHeaptrackTraceIsBounded(t *testing.T) {
	bin := harnesstest.NativeExport(t)
	defer func(was int64) { traceCap = was }(traceCap)
	traceCap = 1 // any trace at all
	sc := parse(t, `name: capped
levels: [2]
duration: 2s
request: {path: "/export?rows=500&width=1000"}
targets:
  - name: c
    command: [`+bin+`, "{port}"]
    health: /health
`)
	res, err := Run(context.Background(), Options{Scenario: sc, Dir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	run := res.Runs[0]
	if run.OK == 0 || run.Runtime != "native" || !strings.HasPrefix(run.HeapNote, traceCappedNote) {
		t.Errorf("%d ok, runtime %q, heap note %q; want the plain run measured and the traced repeat stopped at the trace's cap, said", run.OK, run.Runtime, run.HeapNote)
	}
}
