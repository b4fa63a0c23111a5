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
// sleeps), sampled every 20 ms for 10 s without a cgroup, so every sample
// reads each process's status and the sum of their PSS is read as often
// as the sampler allows itself. It prints the harness's CPU per second of
// sampling, the figure docs/hosts.md states.
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
	// The floor: what waking every 20 ms costs a Go process here, with
	// nothing read.
	cpu0 := usage.Self()
	tk := time.NewTicker(20 * time.Millisecond)
	for range wall / (20 * time.Millisecond) {
		<-tk.C
	}
	tk.Stop()
	floor := usage.Self().Sub(cpu0)
	procs := 0
	cpu0 = usage.Self()
	s := Start(Options{PID: cmd.Process.Pid, Interval: 20 * time.Millisecond, OnSample: func(smp Sample) { procs = max(procs, smp.Procs) }})
	time.Sleep(wall)
	sum := s.Stop()
	cpu := usage.Self().Sub(cpu0)
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / wall.Seconds() }
	fmt.Printf("sampler: %d processes every 20 ms for %v, %d samples: %.2f%% of a core (%v CPU); a bare 20 ms ticker %.2f%%, so the reading itself %.2f%% (%.0f µs a sample)\n",
		procs, wall, sum.Samples, pct(cpu), cpu.Round(time.Millisecond), pct(floor), pct(cpu-floor), float64((cpu-floor).Microseconds())/float64(max(sum.Samples, 1)))
}
