package sample

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestTreeFindsChildren(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
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

func TestHeapTop(t *testing.T) {
	t.Parallel()
	keep := hold(8 << 20)
	runtime.GC() // inuse_space reflects the last completed GC
	var prof bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&prof, 0); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(keep)
	top, err := HeapTop(prof.Bytes(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) == 0 || !strings.HasSuffix(top[0].Func, "sample.hold") || top[0].InuseBytes < 4<<20 {
		t.Fatalf("heap top %+v, want sample.hold first with about 8 MiB", top)
	}
	for i := 1; i < len(top); i++ {
		if top[i].InuseBytes > top[i-1].InuseBytes {
			t.Errorf("heap top not sorted: %+v", top)
		}
	}
	if _, err := HeapTop([]byte("not a profile"), 10); err == nil {
		t.Error("HeapTop accepted garbage")
	}
}

// heapProfile is this process's heap profile now, after a GC.
func heapProfile(t *testing.T) []byte {
	t.Helper()
	runtime.GC()
	var prof bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&prof, 0); err != nil {
		t.Fatal(err)
	}
	return prof.Bytes()
}

// holdMore is a second allocation site, as a regression would add.
//
//go:noinline
func holdMore(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 1
	}
	return b
}

// The diff names the function that grew between two profiles first, with
// its growth and what it holds now, as pprof -diff_base would.
func TestHeapDiff(t *testing.T) {
	keep := hold(4 << 20)
	base := heapProfile(t)
	more := holdMore(16 << 20)
	cur := heapProfile(t)
	runtime.KeepAlive(keep)
	runtime.KeepAlive(more)
	diff, err := HeapDiff(cur, base, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(diff) == 0 || !strings.HasSuffix(diff[0].Func, "sample.holdMore") || diff[0].DeltaBytes < 8<<20 || diff[0].InuseBytes < diff[0].DeltaBytes {
		t.Fatalf("diff %+v, want sample.holdMore first, grown by about 16 MiB", diff)
	}
	for _, d := range diff {
		if strings.HasSuffix(d.Func, "sample.hold") && d.DeltaBytes > 2<<20 {
			t.Errorf("sample.hold, unchanged, shows growth %d", d.DeltaBytes)
		}
	}
	if _, err := HeapDiff([]byte("x"), base, 10); err == nil {
		t.Error("HeapDiff accepted garbage")
	}
	tm, err := JSONHeapDiff([]byte(`[{"func":"a.py:1","inuse_bytes":9},{"func":"b.py:2","inuse_bytes":5}]`), []byte(`[{"func":"a.py:1","inuse_bytes":2},{"func":"b.py:2","inuse_bytes":5}]`), 10)
	if err != nil || len(tm) != 1 || tm[0] != (HeapDelta{Func: "a.py:1", DeltaBytes: 7, InuseBytes: 9}) {
		t.Errorf("JSONHeapDiff = %+v, %v", tm, err)
	}
}

func TestJSONHeapTop(t *testing.T) {
	t.Parallel()
	top, err := JSONHeapTop([]byte(`[{"func":"a.py:1","inuse_bytes":5},{"func":"b.py:2","inuse_bytes":9},{"func":"c.py:3","inuse_bytes":1}]`), 2)
	if err != nil || len(top) != 2 || top[0].Func != "b.py:2" || top[1].InuseBytes != 5 {
		t.Errorf("JSONHeapTop = %+v, %v", top, err)
	}
	if _, err := JSONHeapTop([]byte(`{"not":"a list"}`), 2); err == nil {
		t.Error("JSONHeapTop accepted an object")
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
