package launch_test

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/sample"
	"github.com/floodharness/harness/internal/usage"
)

// What sampling a target in a cgroup costs the harness (`make
// bench-sampler`, with internal/sample's tree without one; not a test: it
// runs only with FLOOD_BENCH=1): a tree of 100 processes (a shell and 99
// sleeps) in a cgroup of its own, sampled every 20 ms for 10 s — the
// cgroup's charge, its anonymous part and its OOM kills at every sample,
// its members and their statm every 200 ms.
func TestSamplerOverheadCgroup(t *testing.T) {
	if os.Getenv("FLOOD_BENCH") == "" {
		t.Skip("a bench: FLOOD_BENCH=1 (make bench-sampler)")
	}
	if !cgroups.Available() {
		t.Skip(cgroups.Why())
	}
	cg, err := cgroups.New("sampler", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	argv := cg.Wrap([]string{"/bin/sh", "-c", "for i in $(seq 99); do sleep 60 & done; wait"})
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if err := cg.Remove(); err != nil {
			t.Error(err)
		}
	})
	if err := cg.Attach(cmd.Process.Pid, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if pids, _ := cg.PIDs(); len(pids) >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the tree did not reach 100 processes")
		}
	}
	const wall = 10 * time.Second
	procs := 0
	cpu0 := usage.Self()
	s := sample.Start(sample.Options{PID: cmd.Process.Pid, Cgroup: cg, Interval: 20 * time.Millisecond, OnSample: func(smp sample.Sample) { procs = max(procs, smp.Procs) }})
	time.Sleep(wall)
	sum := s.Stop()
	cpu := usage.Self().Sub(cpu0)
	fmt.Printf("sampler: %d processes in a cgroup (%s), interval 20 ms, for %v: %d samples, %.2f%% of a core (%v CPU, %.0f µs a sample)\n",
		procs, cgroups.Version(), wall, sum.Samples, 100*cpu.Seconds()/wall.Seconds(), cpu.Round(time.Millisecond), float64(cpu.Microseconds())/float64(max(sum.Samples, 1)))
}
