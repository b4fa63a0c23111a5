package sample

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/usage"
)

// What sampling costs the harness (`make bench-sampler`, not a test: it
// runs only with FLOOD_BENCH=1): a tree of 100 processes (a shell and 99
// sleeps), sampled at an interval of 20 ms for 10 s without a cgroup: its
// processes' statm at every sample (every treeGap), their status every
// hwmGap, /proc searched every rescanGap and the sum of their PSS as
// often as the sampler allows itself. It prints the harness's CPU per
// second of sampling, the figure docs/hosts.md states;
// internal/launch's TestSamplerOverheadCgroup is the same tree in a
// cgroup.
func TestSamplerOverhead(t *testing.T) {
	if os.Getenv("FLOOD_BENCH") == "" {
		t.Skip("a bench: FLOOD_BENCH=1 (make bench-sampler)")
	}
	cmd := shellTree(t, "for i in $(seq 99); do sleep 60 & done; wait")
	for deadline := time.Now().Add(10 * time.Second); len(Tree(cmd.Process.Pid)) < 100; {
		if time.Now().After(deadline) {
			t.Fatalf("the tree has %d processes, want 100", len(Tree(cmd.Process.Pid)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	const wall = 10 * time.Second
	// The floor: what the sampler's clock costs waking every 20 ms here,
	// with nothing read.
	cpu0 := usage.Self()
	clk := newClock(20 * time.Millisecond)
	for range wall / (20 * time.Millisecond) {
		clk.wait()
	}
	clk.halt()
	floor := usage.Self().Sub(cpu0)
	procs := 0
	cpu0 = usage.Self()
	s := Start(Options{PID: cmd.Process.Pid, Interval: 20 * time.Millisecond, OnSample: func(smp Sample) { procs = max(procs, smp.Procs) }})
	time.Sleep(wall)
	sum := s.Stop()
	cpu := usage.Self().Sub(cpu0)
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / wall.Seconds() }
	fmt.Printf("sampler: %d processes without a cgroup, interval 20 ms, for %v: %d samples (one every %v), %.2f%% of a core (%v CPU); its clock alone waking every 20 ms %.2f%%\n",
		procs, wall, sum.Samples, max(20*time.Millisecond, treeGap), pct(cpu), cpu.Round(time.Millisecond), pct(floor))
}
