package sweep

import (
	"strings"
	"testing"

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
