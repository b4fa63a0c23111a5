package sample

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/floodharness/harness/internal/proc"
	"github.com/floodharness/harness/internal/result"
)

// Usage is a cgroup's memory, read on demand: its whole charge (page cache
// included) and the anonymous part of it, which is what RSS means; and the
// processes in it, which are the target however they were started.
type Usage interface {
	Usage() (int64, error)
	Anon() (int64, error)
	PIDs() ([]int, error)
}

// OOMCounter is a Usage that counts the OOM kills in its cgroup.
type OOMCounter interface {
	OOMKills() (int64, error)
	// OOMKillsMayVanish: part of the count is kept in cgroups below that
	// may be removed with what they hold (a container's own, on v1).
	OOMKillsMayVanish() bool
}

// Options configure a Sampler.
type Options struct {
	// PID is the root of the process tree measured.
	PID int
	// Interval between samples (default 20ms).
	Interval time.Duration
	// Cgroup, when set, is read at every sample, and its processes are the
	// ones measured: children started at any time, and processes that
	// daemonized or were re-parented, are in it.
	Cgroup Usage
	// Series, when set, receives one CSV line per sample:
	// elapsed_ms,rss_bytes,hwm_bytes,procs,cgroup_bytes,cgroup_anon_bytes.
	Series io.Writer
	// OnSample, when set, sees every sample (from the sampler's goroutine).
	OnSample func(Sample)
	// Start is when elapsed time counts from (default: now); Continue
	// means Series already has its header (another sampler's, before this
	// one: a restarted target's series goes on in the same file).
	Start    time.Time
	Continue bool
}

// Sample is one reading of the whole process tree.
type Sample struct {
	Elapsed time.Duration
	RSS     int64 // summed over the tree (/proc/PID/statm)
	// Shared is the part of RSS backed by files or shared memory
	// (RssFile + RssShmem), summed over the tree: RSS less it is RssAnon.
	Shared int64
	HWM    int64 // VmHWM summed over the tree: exact for one process, an upper bound for several
	Procs  int
	Cgroup int64 // the cgroup's charge, page cache included, when there is one
	Anon   int64 // the anonymous part of the cgroup's charge
	// OOMKills is the cgroup's count of OOM kills, where it keeps one.
	OOMKills int64
	// Memory is the one measure of the target's memory, whatever its
	// shape: one process's RSS; for several, the cgroup's anonymous memory
	// when there is a cgroup, else the sum of their PSS — never the sum of
	// their RSS, which counts every shared page once per process.
	Memory int64
	// Each is every process's RSS at this sample.
	Each []result.ProcessMemory
}

// Summary is what a Sampler saw over its life.
type Summary struct {
	Peak   Sample // the sample with the highest RSS
	HWM    int64  // the highest tree HWM seen
	Anon   int64  // the highest cgroup anon seen
	Cgroup int64  // the highest cgroup charge seen
	// OOMKills is the highest OOM-kill count read from the cgroup (when it
	// counts them): read while the run goes on, it keeps a count that
	// leaves with a cgroup the engine removes (a container's, on v1).
	OOMKills int64
	Memory   int64 // the highest Memory seen
	// AtPeak is every process's RSS at the sample of the highest Memory.
	AtPeak []result.ProcessMemory
	// Died counts the target's processes other than the root that were
	// there at one sample and gone from the system at the next: workers
	// that died, however (the sampler cannot reap what it did not start).
	Died    int
	Last    Sample
	Samples int
}

// Then is what two samplers saw, one after the other (a process chaos
// replaced, then its replacement): the highest of each peak, the counts
// added, the latest reading b's.
func (a Summary) Then(b Summary) Summary {
	out := b
	if a.Peak.RSS > b.Peak.RSS {
		out.Peak = a.Peak
	}
	out.HWM = max(a.HWM, b.HWM)
	out.Anon = max(a.Anon, b.Anon)
	out.Cgroup = max(a.Cgroup, b.Cgroup)
	out.OOMKills = max(a.OOMKills, b.OOMKills)
	if a.Memory > b.Memory {
		out.Memory, out.AtPeak = a.Memory, a.AtPeak
	}
	out.Died = a.Died + b.Died
	out.Samples = a.Samples + b.Samples
	return out
}

// Sampler reads a process tree's memory at an interval until stopped.
type Sampler struct {
	o     Options
	start time.Time
	halt  func() // stops the clock the sampler waits on
	done  chan struct{}

	mu                       sync.Mutex
	sum                      Summary
	tree                     []int        // the pids measured
	seen                     map[int]bool // the members at the last sample
	pss                      int64        // the tree's PSS when last read
	pssAt                    time.Time    // when
	pssGap                   time.Duration
	pssRSS                   int64         // the tree's summed RSS then
	rss                      proc.Reader   // statm and status files kept open, a pread each a reading
	hwm                      map[int]int64 // each process's VmHWM when last read
	each                     *eachReading  // the processes as last read
	eachAt, hwmAt, scannedAt time.Time
	oom                      int64 // the OOM kills counted when last read
	oomAt                    time.Time
}

func (s *Sampler) oomCount(k OOMCounter) int64 {
	n, err := k.OOMKills()
	if err != nil {
		return s.oom
	}
	return n
}

// How often a tree of several processes is looked at. Without a cgroup:
// its processes' RSS every treeGap (their sum moves the PSS between PSS
// readings, see memory), all of /proc for new children every rescanGap (a
// child forked mid-flood is in the measure within that). In a cgroup, whose
// charge is the measure and is read at every sample: its members (the
// processes whose RSS the series sums and the breakdown lists, whose deaths
// are counted) and their RSS every membersGap. Either way their VmHWMs
// (status, a longer file than statm; summed, an upper bound, not the
// measure) every hwmGap. A single process is read whole at every sample.
const (
	treeGap    = 200 * time.Millisecond
	membersGap = time.Second
	hwmGap     = 10 * time.Second
	rescanGap  = 2 * time.Second
)

// Once takes one reading of the target now, as a Sampler would: idle
// memory and peaks are then the same measure (Sample.Memory).
func Once(pid int, cg Usage) Sample {
	s := &Sampler{o: Options{PID: pid, Cgroup: cg}, start: time.Now()}
	defer s.rss.Close()
	smp, _ := s.read(true)
	return smp
}

// Start samples at once, then every interval, until Stop.
func Start(o Options) *Sampler {
	if o.Interval <= 0 {
		o.Interval = 20 * time.Millisecond
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	s := &Sampler{o: o, start: o.Start, done: make(chan struct{})}
	var bw *bufio.Writer
	if o.Series != nil {
		bw = bufio.NewWriter(o.Series)
		if !o.Continue {
			fmt.Fprintln(bw, "elapsed_ms,rss_bytes,hwm_bytes,procs,cgroup_bytes,cgroup_anon_bytes,memory_bytes")
		}
	}
	clk := newClock(o.Interval)
	s.halt = clk.halt
	go func() {
		defer close(s.done)
		defer s.rss.Close()
		gap := o.Interval
		for i := 0; ; i++ {
			smp, ok := s.read(i == 0)
			if g := s.gap(); g != gap && clk.reset(g) == nil {
				gap = g
			}
			if !ok {
				// The kernel counts an OOM kill as it kills: the sample
				// that reads the count may find the process already gone
				// (a lone container's, killed and reaped between two
				// samples), and the count may leave with its cgroup next.
				s.recordKills(smp.OOMKills)
			}
			if ok {
				s.record(smp)
				if bw != nil {
					fmt.Fprintf(bw, "%.1f,%d,%d,%d,%d,%d,%d\n", float64(smp.Elapsed)/float64(time.Millisecond), smp.RSS, smp.HWM, smp.Procs, smp.Cgroup, smp.Anon, smp.Memory)
				}
				if o.OnSample != nil {
					o.OnSample(smp)
				}
			}
			if !clk.wait() {
				if bw != nil {
					_ = bw.Flush()
				}
				return
			}
		}
	}()
	return s
}

// gap is how long to wait for the next sample: the interval, except for a
// tree of several processes without a cgroup, whose readings change only
// every treeGap — waking every 20 ms to copy them would cost the harness
// a third of a percent of a core here for nothing (a wake-up of the clock
// alone is 60–70 µs of CPU on this project's VM).
func (s *Sampler) gap() time.Duration {
	if s.o.Cgroup == nil && len(s.tree) > 1 {
		return max(s.o.Interval, treeGap)
	}
	return s.o.Interval
}

// read takes one sample; ok is false once the root process is gone.
func (s *Sampler) read(rescan bool) (Sample, bool) {
	now := time.Now()
	scanned := true
	switch {
	case s.o.Cgroup != nil && (rescan || s.tree == nil || now.Sub(s.scannedAt) >= membersGap):
		s.tree, s.scannedAt = s.members(), now
	case s.o.Cgroup == nil && (rescan || s.tree == nil || now.Sub(s.scannedAt) >= rescanGap):
		s.tree, s.scannedAt = Tree(s.o.PID), now
	default:
		scanned = false
	}
	smp := Sample{Elapsed: now.Sub(s.start)}
	// One process is read whole at every sample. A tree's processes are
	// read every treeGap (in a cgroup, as its members are listed) and
	// their VmHWMs every hwmGap: their sum is not its measure (the
	// cgroup's or PSS is), and reading a hundred processes every 20 ms
	// would cost the harness a tenth of a core.
	one := len(s.tree) <= 1
	due := now.Sub(s.eachAt) >= treeGap
	if s.o.Cgroup != nil {
		due = scanned
	}
	if one || rescan || s.each == nil || due {
		s.readEach(one || rescan || now.Sub(s.hwmAt) >= hwmGap, now)
	}
	smp.RSS, smp.Shared, smp.HWM, smp.Procs, smp.Each = s.each.rss, s.each.shared, s.each.hwm, len(s.each.procs), s.each.procs
	if s.o.Cgroup != nil {
		smp.Cgroup, _ = s.o.Cgroup.Usage()
		smp.Anon, _ = s.o.Cgroup.Anon()
		if k, ok := s.o.Cgroup.(OOMCounter); ok {
			// The count stays with the cgroup, and the harness reads it
			// when the target stops; one that may leave with a cgroup
			// below is read at every sample.
			if rescan || k.OOMKillsMayVanish() || now.Sub(s.oomAt) >= treeGap {
				s.oom, s.oomAt = s.oomCount(k), now
			}
			smp.OOMKills = s.oom
		}
	}
	smp.Memory = s.memory(smp)
	if scanned {
		s.countDeaths() // the tree changes only when it is looked for
	}
	return smp, smp.Procs > 0
}

// readEach reads every process of the tree: its RSS, and its VmHWM when
// hwm (a process new to the tree always).
func (s *Sampler) readEach(hwm bool, now time.Time) {
	if s.hwm == nil {
		s.hwm = map[int]int64{}
	}
	e := &eachReading{}
	for _, pid := range s.tree {
		rss, shared, err := s.rss.Statm(pid)
		if err != nil {
			continue // exited since the last scan
		}
		e.rss += rss
		e.shared += shared
		e.procs = append(e.procs, result.ProcessMemory{PID: pid, RSSBytes: rss})
		if _, known := s.hwm[pid]; hwm || !known {
			if st, err := s.rss.Status(pid); err == nil {
				s.hwm[pid] = st.HWM
			}
		}
		s.hwm[pid] = max(s.hwm[pid], rss)
		e.hwm += s.hwm[pid]
	}
	s.each, s.eachAt = e, now
	if hwm {
		s.hwmAt = now
	}
}

// eachReading is the tree's processes as last read: a sample between
// readings carries it (the slice is never changed once made).
type eachReading struct {
	rss, hwm, shared int64
	procs            []result.ProcessMemory
}

// countDeaths notes the members gone since the last sample that no longer
// exist at all (a process that left the tree but lives is not dead).
func (s *Sampler) countDeaths() {
	now := make(map[int]bool, len(s.tree))
	for _, pid := range s.tree {
		now[pid] = true
	}
	died := 0
	for pid := range s.seen {
		if !now[pid] && pid != s.o.PID && !proc.Exists(pid) {
			died++
		}
	}
	s.seen = now
	s.rss.Keep(now) // the files and peaks of processes gone from the tree
	for pid := range s.hwm {
		if !now[pid] {
			delete(s.hwm, pid)
		}
	}
	if died > 0 {
		s.mu.Lock()
		s.sum.Died += died
		s.mu.Unlock()
	}
}

// memory is the one measure of the sample (see Sample.Memory).
func (s *Sampler) memory(smp Sample) int64 {
	switch {
	case smp.Procs <= 1:
		return smp.RSS
	case s.o.Cgroup != nil && smp.Anon > 0:
		return smp.Anon
	}
	// smaps_rollup walks every page table: 100 processes sharing 8 MiB
	// took 30 ms a read here, sharing 256 MiB 316 ms. So PSS is read at
	// most a 400th of the time (a read of 5 ms every 2 s; at least every
	// pssMaxGap), and between readings the change of the summed RSS since
	// the last one is added: what a process allocates for itself moves
	// both alike.
	if time.Since(s.pssAt) >= s.pssGap {
		start := time.Now()
		s.pss, s.pssRSS = TreePSS(s.tree), smp.RSS
		s.pssAt, s.pssGap = time.Now(), min(pssDuty*time.Since(start), pssMaxGap)
	}
	return max(s.pss+smp.RSS-s.pssRSS, 0)
}

// TreePSS sums the processes' PSS (processes that exited meanwhile count 0).
func TreePSS(tree []int) int64 {
	var n int64
	for _, pid := range tree {
		if pss, err := proc.ReadPSS(pid); err == nil {
			n += pss
		}
	}
	return n
}

// members are the processes in the cgroup now.
func (s *Sampler) members() []int {
	pids, err := s.o.Cgroup.PIDs()
	if err != nil {
		return nil
	}
	return pids
}

func (s *Sampler) record(smp Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if smp.RSS > s.sum.Peak.RSS {
		s.sum.Peak = smp
	}
	s.sum.HWM = max(s.sum.HWM, smp.HWM)
	s.sum.Anon = max(s.sum.Anon, smp.Anon)
	s.sum.Cgroup = max(s.sum.Cgroup, smp.Cgroup)
	s.sum.OOMKills = max(s.sum.OOMKills, smp.OOMKills)
	if smp.Memory > s.sum.Memory {
		s.sum.Memory, s.sum.AtPeak = smp.Memory, smp.Each
	}
	s.sum.Last = smp
	s.sum.Samples++
}

// recordKills keeps an OOM-kill count read in a sample that is not kept.
func (s *Sampler) recordKills(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sum.OOMKills = max(s.sum.OOMKills, n)
}

// Latest is the most recent sample.
func (s *Sampler) Latest() Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum.Last
}

// Stop ends sampling and returns the summary. Call it once.
func (s *Sampler) Stop() Summary {
	s.halt()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum
}

// pssDuty is how many times a PSS read's own time passes before the
// next; pssMaxGap the longest wait however slow the read.
const (
	pssDuty   = 399
	pssMaxGap = 10 * time.Second
)

// Tree lists pid and all its descendants that are alive now.
func Tree(pid int) []int {
	if !proc.Exists(pid) {
		return nil
	}
	return append([]int{pid}, proc.Descendants(pid)...) // alive as Descendants read them
}
