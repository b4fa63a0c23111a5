package sample

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/result"
)

// shellTree starts script under /bin/sh in a process group of its own,
// killed with the test.
func shellTree(t *testing.T, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return cmd
}

func TestTreeFindsChildren(t *testing.T) {
	t.Parallel()
	cmd := shellTree(t, "sleep 30 & sleep 30 & wait")
	deadline := time.Now().Add(10 * time.Second)
	for len(Tree(cmd.Process.Pid)) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("Tree found %d processes, want the shell and its 2 children", len(Tree(cmd.Process.Pid)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hold keeps a named allocation alive, so a heap profile can find it.
//
//go:noinline
func hold(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestSamplerSeesAnAllocation(t *testing.T) {
	// Not parallel: it measures this process.
	var series bytes.Buffer
	var seen int
	s := Start(Options{PID: os.Getpid(), Interval: 5 * time.Millisecond, Series: &series, OnSample: func(Sample) { seen++ }})
	time.Sleep(30 * time.Millisecond)
	before := s.Latest().RSS
	buf := hold(96 << 20)
	time.Sleep(50 * time.Millisecond)
	sum := s.Stop()
	runtime.KeepAlive(buf)
	if sum.Peak.RSS < before+64<<20 {
		t.Errorf("peak RSS %d, was %d before a 96 MiB allocation", sum.Peak.RSS, before)
	}
	if sum.HWM < sum.Peak.RSS || sum.Peak.Procs != 1 {
		t.Errorf("HWM %d below the sampled peak %d, or %d processes", sum.HWM, sum.Peak.RSS, sum.Peak.Procs)
	}
	lines := strings.Split(strings.TrimSpace(series.String()), "\n")
	if lines[0] != "elapsed_ms,rss_bytes,hwm_bytes,procs,cgroup_bytes,cgroup_anon_bytes,memory_bytes" || len(lines) != sum.Samples+1 || seen != sum.Samples || sum.Samples < 5 {
		t.Errorf("series has %d lines (header %q), %d samples, OnSample saw %d", len(lines), lines[0], sum.Samples, seen)
	}
}

// fakeCgroup answers a rising charge whose anonymous part peaks in the
// middle, as when a target frees memory before the flood ends.
type fakeCgroup struct {
	mu     sync.Mutex
	reads  int64
	others []int
}

func (f *fakeCgroup) Usage() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return 1000 * f.reads, nil
}

func (f *fakeCgroup) Anon() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reads == 3 {
		return 700, nil
	}
	return 100, nil
}

// PIDs: the cgroup holds this test process and, when set, another one.
func (f *fakeCgroup) PIDs() ([]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int{os.Getpid()}, f.others...), nil
}

func TestSamplerReadsTheCgroupsAnon(t *testing.T) {
	t.Parallel()
	var series bytes.Buffer
	s := Start(Options{PID: os.Getpid(), Interval: time.Millisecond, Cgroup: &fakeCgroup{}, Series: &series})
	for deadline := time.Now().Add(10 * time.Second); s.Latest().Cgroup < 5000 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	sum := s.Stop()
	if sum.Samples < 5 || sum.Anon != 700 || sum.Last.Cgroup < 5000 || sum.Last.Anon != 100 {
		t.Errorf("%d samples, anon peak %d, last %+v; want the anon peak of 700 kept", sum.Samples, sum.Anon, sum.Last)
	}
	if lines := strings.Split(series.String(), "\n"); !strings.Contains(lines[3], ",3000,700,") {
		t.Errorf("third sample's line %q, want the charge and anon before the one measure", lines[3])
	}
}

func TestSamplerStopsWhenTheProcessIsGone(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	s := Start(Options{PID: cmd.Process.Pid, Interval: time.Millisecond})
	time.Sleep(10 * time.Millisecond)
	if sum := s.Stop(); sum.Samples != 0 {
		t.Errorf("%d samples of a reaped process", sum.Samples)
	}
}

// With a cgroup, its members are measured, whoever their parent is: a
// process that is no child of the root (as a daemon that left its tree).
func TestSamplerMeasuresTheCgroupsMembers(t *testing.T) {
	t.Parallel()
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	cg := &fakeCgroup{others: []int{other.Process.Pid}}
	// The tree is rooted at the sleeper, which has no children: only the
	// cgroup brings this test process in.
	s := Start(Options{PID: other.Process.Pid, Interval: time.Millisecond, Cgroup: cg})
	for deadline := time.Now().Add(10 * time.Second); s.Latest().Procs < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	sum := s.Stop()
	if sum.Last.Procs != 2 {
		t.Errorf("measured %d processes, want the cgroup's 2 (this test and the sleeper)", sum.Last.Procs)
	}
	without := Start(Options{PID: other.Process.Pid, Interval: time.Millisecond})
	time.Sleep(20 * time.Millisecond)
	if n := without.Stop().Last.Procs; n != 1 {
		t.Errorf("without a cgroup: %d processes, want the tree's 1", n)
	}
}

func TestSummaryThen(t *testing.T) {
	t.Parallel()
	a := Summary{Peak: Sample{RSS: 300}, HWM: 310, Anon: 5, Cgroup: 400, OOMKills: 1, Memory: 290, AtPeak: []result.ProcessMemory{{PID: 1}}, Died: 2, Samples: 10, Last: Sample{RSS: 1}}
	b := Summary{Peak: Sample{RSS: 100}, HWM: 120, Anon: 7, Cgroup: 150, Memory: 95, Died: 1, Samples: 4, Last: Sample{RSS: 2}}
	got := a.Then(b)
	if got.Peak.RSS != 300 || got.HWM != 310 || got.Anon != 7 || got.Cgroup != 400 || got.OOMKills != 1 || got.Memory != 290 || len(got.AtPeak) != 1 {
		t.Errorf("peaks: %+v", got)
	}
	if got.Died != 3 || got.Samples != 14 || got.Last.RSS != 2 {
		t.Errorf("counts and last reading: died %d samples %d last %d", got.Died, got.Samples, got.Last.RSS)
	}
}

// A tree of several processes without a cgroup changes only as often as
// its processes are read: it is sampled every treeGap, however short the
// interval, while a single process is sampled at the interval.
func TestATreeIsSampledAtItsOwnPace(t *testing.T) {
	t.Parallel()
	cmd := shellTree(t, "sleep 30 & sleep 30 & wait")
	for deadline := time.Now().Add(10 * time.Second); len(Tree(cmd.Process.Pid)) != 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the tree did not reach 3 processes")
		}
	}
	single := shellTree(t, "exec sleep 30")
	const wall = 700 * time.Millisecond
	tree := Start(Options{PID: cmd.Process.Pid, Interval: 5 * time.Millisecond})
	one := Start(Options{PID: single.Process.Pid, Interval: 5 * time.Millisecond})
	time.Sleep(wall)
	ts, os1 := tree.Stop(), one.Stop()
	if max := int(wall/treeGap) + 2; ts.Samples < 2 || ts.Samples > max || ts.Last.Procs != 3 {
		t.Errorf("the tree: %d samples of %d processes in %v, want 2 to %d of 3", ts.Samples, ts.Last.Procs, wall, max)
	}
	if os1.Samples < 4*ts.Samples {
		t.Errorf("one process: %d samples at 5 ms in %v, the tree %d", os1.Samples, wall, ts.Samples)
	}
}

// countingOOM is a cgroup whose OOM-kill count is read: how often.
type countingOOM struct {
	fakeCgroup
	vanish bool
	n      int
}

func (c *countingOOM) OOMKills() (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return 2, nil
}

func (c *countingOOM) OOMKillsMayVanish() bool { return c.vanish }

// The OOM count stays with the cgroup, so it is read every treeGap; a
// count that may leave with a cgroup below is read at every sample.
func TestOOMKillsAreReadAsTheyMayVanish(t *testing.T) {
	t.Parallel()
	reads := map[bool]int{}
	samples := map[bool]int{}
	for _, vanish := range []bool{false, true} {
		cg := &countingOOM{vanish: vanish}
		s := Start(Options{PID: os.Getpid(), Interval: 2 * time.Millisecond, Cgroup: cg})
		time.Sleep(500 * time.Millisecond)
		sum := s.Stop()
		if sum.OOMKills != 2 || sum.Last.OOMKills != 2 {
			t.Errorf("may vanish %v: %d OOM kills (last %d), want 2", vanish, sum.OOMKills, sum.Last.OOMKills)
		}
		cg.mu.Lock()
		reads[vanish], samples[vanish] = cg.n, sum.Samples
		cg.mu.Unlock()
	}
	if reads[true] != samples[true] || reads[false] > int(500*time.Millisecond/treeGap)+2 || samples[false] < 4*reads[false] {
		t.Errorf("OOM count read %d times in %d samples where it may vanish, %d in %d where it stays", reads[true], samples[true], reads[false], samples[false])
	}
}

// killedOOM holds one process, and counts one OOM kill once it has been
// killed.
type killedOOM struct {
	fakeCgroup
	pid    int
	killed atomic.Bool
}

func (c *killedOOM) PIDs() ([]int, error) {
	if c.killed.Load() {
		return nil, nil
	}
	return []int{c.pid}, nil
}

func (c *killedOOM) OOMKills() (int64, error) {
	if c.killed.Load() {
		return 1, nil
	}
	return 0, nil
}

func (c *killedOOM) OOMKillsMayVanish() bool { return true }

// A lone process killed and reaped between two samples: the kill is read
// in a sample that finds no process, and still counted (CI lost a
// container's kill this way: its cgroup went with it before the next).
func TestAKillReadAfterTheProcessIsGoneIsCounted(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cg := &killedOOM{pid: cmd.Process.Pid}
	s := Start(Options{PID: cmd.Process.Pid, Interval: time.Millisecond, Cgroup: cg})
	for deadline := time.Now().Add(10 * time.Second); s.Latest().Procs == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	cg.killed.Store(true)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	time.Sleep(20 * time.Millisecond)
	if sum := s.Stop(); sum.OOMKills != 1 {
		t.Errorf("%d OOM kills counted (last kept sample %d); want the 1 read after the process was gone", sum.OOMKills, sum.Last.OOMKills)
	}
}
