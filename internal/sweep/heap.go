package sweep

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodharness/harness/internal/heaphook"
	"github.com/floodharness/harness/internal/heapprof"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/sample"
	"github.com/floodharness/harness/internal/scenario"
)

// heapProfiler fetches heap profiles while RSS climbs and keeps the one taken
// at the highest RSS: the sampled peak cannot be known until the flood is
// over, so this keeps the best candidate as it goes.
type heapProfiler struct {
	ctx         context.Context
	url         string // the heap endpoint, "" for none
	tracemalloc bool   // profiles are JSON heap tops, not pprof profiles
	mode        result.HeapMode
	client      *http.Client // the target's (HTTPS where it serves that)
	// fetch takes a profile (end: after the flood, a GC first where the
	// mechanism can); nil when the target has no heap evidence or
	// profiles are off.
	fetch func(end bool) ([]byte, error)
	// hook is heap: auto's injected tracemalloc, pids the target's
	// processes now; mechanism and toolBytes what results say of it.
	hook      *heaphook.Hook
	pids      func() []int
	mechanism atomic.Pointer[string] // what answered (heap: auto)
	toolBytes atomic.Int64

	mu      sync.Mutex
	wg      sync.WaitGroup
	busy    bool
	nextAt  int64 // fetch again once RSS passes this
	best    []byte
	bestRSS int64
	lastTry time.Time
	steady  []byte        // the profile at the start of the trend's part (steadyAfter)
	flooded chan struct{} // closed by finish: a steady profile not yet taken is not
}

// newHeapProfiler watches tg's heap endpoint, or with heap: auto the hook
// injected into its processes (pids lists them); url makes a path
// absolute.
func newHeapProfiler(ctx context.Context, tg scenario.Target, url func(path string) string, client *http.Client, mode result.HeapMode, idle int64, hook *heaphook.Hook, pids func() []int) *heapProfiler {
	h := &heapProfiler{ctx: ctx, mode: mode, nextAt: idle + idle/4, client: client, hook: hook, pids: pids}
	switch {
	case mode == result.HeapOff:
	case hook != nil:
		h.fetch = h.fetchHook
	case tg.Pprof != "":
		h.url = url(tg.Pprof)
	case tg.Tracemalloc != "":
		h.url, h.tracemalloc = url(tg.Tracemalloc), true
	}
	if h.url != "" {
		h.fetch = h.fetchURL
	}
	return h
}

// fetchURL fetches the heap endpoint.
func (h *heapProfiler) fetchURL(end bool) ([]byte, error) {
	u := h.url
	if end {
		u = h.endURL()
	}
	return sample.FetchHeapWith(h.ctx, h.client, u)
}

// fetchHook asks the target's processes for their heap tops, merged, as
// a pprof profile (heaphook.Top.Profile); what the mechanism itself
// holds (tracemalloc's) is kept.
func (h *heapProfiler) fetchHook(end bool) ([]byte, error) {
	top, err := h.hook.Fetch(h.pids(), 10, 15*time.Second, end) // a busy process under tracemalloc answers slowly
	if err != nil {
		return nil, err
	}
	h.toolBytes.Store(top.TracemallocBytes)
	h.mechanism.Store(&top.Mechanism)
	return top.Profile()
}

// observe is called with every RSS sample.
func (h *heapProfiler) observe(rss int64) {
	if h.fetch == nil || h.mode != result.HeapPeak || h.keepsPeak() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// An injected mechanism answers seconds late and runs in a repeat of
	// its own (its peak is not the run's): it is first asked once the
	// flood has raised the memory a quarter above idle (asked at once, a
	// snapshot of the idle server took the seconds a short flood had:
	// bench-seeds' gunicorn at 8 clients kept one answer of 8), then
	// again as soon as it answers, the fullest answer kept.
	first := h.lastTry.IsZero()
	if h.busy || rss < h.nextAt && (h.hook == nil || first) || time.Since(h.lastTry) < 200*time.Millisecond {
		return
	}
	h.busy, h.lastTry, h.nextAt = true, time.Now(), rss+rss/4
	h.wg.Go(func() {
		b, err := h.fetch(false)
		usable := err == nil && h.usable(b)
		score := rss
		if h.hook != nil && usable {
			// An injected snapshot is taken when the busy process gets to
			// it, seconds after it was asked for (7 s at 4 clients here):
			// what it holds says when, not the RSS that asked.
			score = h.heldBy(b)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.busy = false
		if usable && score >= h.bestRSS {
			h.best, h.bestRSS = b, score
		}
	})
}

// neverAsked: no profile was asked for during the flood.
func (h *heapProfiler) neverAsked() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastTry.IsZero()
}

// keepsPeak: the mechanism finds the heap's peak itself (heaptrack): it
// is read once, after the flood.
func (h *heapProfiler) keepsPeak() bool { return h.hook != nil && h.hook.KeepsPeak() }

// heldBy is what a heap top's entries hold together.
func (h *heapProfiler) heldBy(b []byte) int64 {
	top, err := h.top(b, 1<<20)
	if err != nil {
		return 0
	}
	var n int64
	for _, f := range top {
		n += f.InuseBytes
	}
	return n
}

// top reads a fetched profile's heap top.
func (h *heapProfiler) top(b []byte, n int) ([]result.HeapFunc, error) {
	if h.tracemalloc {
		return heapprof.JSONTop(b, n)
	}
	return heapprof.Top(b, n)
}

// usable reports whether a profile shows anything in use. One can be empty:
// Go samples one allocation per 512 KiB on average, so a small live heap
// can escape it, and a profile reflects the last completed GC. Then the one
// at the end (after a forced GC) is worth more.
func (h *heapProfiler) usable(b []byte) bool {
	top, err := h.top(b, 1)
	return err == nil && len(top) > 0
}

// endURL is the heap endpoint for the profile after the flood. The flood is
// over and its peak measured, so a Go target may run a GC first (pprof's
// gc=1): its in-use figures are then current instead of as of whichever GC
// last completed. Profiles during the flood never force a GC — that would
// lower the peak being measured.
func (h *heapProfiler) endURL() string {
	if h.tracemalloc {
		return h.url
	}
	sep := "?"
	if strings.Contains(h.url, "?") {
		sep = "&"
	}
	return h.url + sep + "gc=1"
}

// heapProfile is the profile a run keeps: its file (relative to the run
// directory), when it was taken, and its top functions.
type heapProfile struct {
	path string
	at   result.HeapMode
	top  []result.HeapFunc
	note string // what fell back, and why
	// trace is the native tool's own file (heaptrack's), relative to the
	// run directory.
	trace string
	data  []byte
	// mechanism took it from outside (heap: auto), holding toolBytes.
	mechanism string
	toolBytes int64
}

// steadyAfter fetches one profile d from now, while the flood goes on (no
// forced GC: that would disturb what is measured): the start of the part
// of a long run its memory trend is fit over, which the after-flood
// profile is later diffed against.
func (h *heapProfiler) steadyAfter(d time.Duration) {
	if h.fetch == nil {
		return
	}
	h.flooded = make(chan struct{})
	h.wg.Go(func() {
		select {
		case <-time.After(d):
		case <-h.flooded: // the flood ended first (the target died)
			return
		case <-h.ctx.Done():
			return
		}
		// What is held then: heaptrack's peak so far is not it.
		if b, err := h.fetch(h.keepsPeak()); err == nil {
			h.mu.Lock()
			h.steady = b
			h.mu.Unlock()
		}
	})
}

// growth stores the steady profile under dir as profiles/<name>-steady
// and returns its path with what grew from it to after (largest first);
// nothing without both profiles.
func (h *heapProfiler) growth(dir, name string, after heapProfile) (string, []result.HeapDelta) {
	h.mu.Lock()
	steady := h.steady
	h.mu.Unlock()
	if steady == nil || after.data == nil {
		return "", nil
	}
	path, ok := h.save(dir, name+"-steady", steady)
	if !ok {
		return "", nil
	}
	top, err := heapprof.DiffOf(h.tracemalloc, after.data, steady, 10)
	if err != nil {
		return path, nil
	}
	return path, top
}

// save writes a profile under dir as profiles/<name> with this target's
// extension and returns its path relative to dir.
func (h *heapProfiler) save(dir, name string, b []byte) (string, bool) {
	ext := ".pb.gz"
	if h.tracemalloc {
		ext = ".tracemalloc.json"
	}
	path := filepath.Join("profiles", name+ext)
	return path, os.WriteFile(filepath.Join(dir, path), b, 0o644) == nil
}

// finish waits for a fetch in flight, takes one at the end if there is no
// usable one yet (or the mode is "end") and the process serving now is
// alive (dead is closed when it is not), and stores it under dir as
// profiles/<name>.
func (h *heapProfiler) finish(dir, name string, dead <-chan struct{}) heapProfile {
	if h.fetch == nil {
		return heapProfile{}
	}
	if h.flooded != nil {
		close(h.flooded)
	}
	h.wg.Wait()
	at := result.HeapPeak
	if h.best == nil && h.keepsPeak() {
		// The trace is on disk, a killed server's too: its peak is read.
		b, err := h.fetch(false)
		if err != nil {
			return heapProfile{note: "heap: auto: " + err.Error()}
		}
		h.best = b
	}
	if h.best == nil {
		select {
		case <-dead:
			return heapProfile{} // the target died (OOM): nothing left to ask
		default:
		}
		b, err := h.fetch(true)
		if err == nil {
			h.best, at = b, result.HeapEnd
		} else if h.hook != nil {
			return heapProfile{note: "heap: auto: " + err.Error()}
		}
	}
	if h.best == nil {
		return heapProfile{}
	}
	hp := heapProfile{at: at, toolBytes: h.toolBytes.Load()}
	if m := h.mechanism.Load(); m != nil {
		hp.mechanism = *m
	}
	var ok bool
	if hp.path, ok = h.save(dir, name, h.best); !ok {
		return heapProfile{}
	}
	hp.top, _ = h.top(h.best, 10)
	if h.hook != nil && h.hook.Trace() != "" {
		trace := filepath.Join("profiles", name+".heaptrack.gz")
		if err := gzipFile(h.hook.Trace(), filepath.Join(dir, trace)); err == nil {
			hp.trace = trace
		}
	}
	switch {
	case h.keepsPeak() && len(h.pids()) > 1:
		// heaptrack traces the process that loaded it first; a fork
		// is not traced (a pre-fork server's workers: nginx's).
		hp.note = fmt.Sprintf("heaptrack traced the main process only, not the %d it started (a pre-fork server's workers are not traced)", len(h.pids())-1)
	case hp.mechanism == heaphook.Node && len(h.pids()) > 1:
		// The workers a cluster forks inherit NODE_OPTIONS, and with it
		// the inspector's port, which the main process holds.
		hp.note = fmt.Sprintf("the inspector reached the main process only, not the %d it started (a cluster's workers are not reached)", len(h.pids())-1)
	case len(hp.top) == 0:
		// Go samples one allocation per 512 KiB on average: a heap that
		// small can show nothing in use in any profile.
		hp.note = "no heap profile showed anything in use, near the peak or at the end (a live heap below Go's sampling rate of one allocation per 512 KiB): no heap top"
	case at == result.HeapEnd && h.mode == result.HeapPeak && h.hook != nil && h.neverAsked():
		hp.note = "the flood never raised the memory a quarter above idle: the heap top is the one after the flood"
	case at == result.HeapEnd && h.mode == result.HeapPeak:
		hp.note = "no heap profile near the peak showed anything in use: the heap top is the end profile's (after a GC)"
	}
	return hp
}

// after fetches the heap profile once the target has settled after the
// flood (a Go target's after a GC, pprof's gc=1): what it still holds, by
// function. It is kept as profiles/<name>-after with its top; nothing when
// the target has no heap endpoint or profiles are off.
func (h *heapProfiler) after(dir, name string) heapProfile {
	if h.fetch == nil {
		return heapProfile{}
	}
	b, err := h.fetch(true)
	if err != nil {
		return heapProfile{}
	}
	hp := heapProfile{at: result.HeapEnd, data: b}
	var ok bool
	if hp.path, ok = h.save(dir, name+"-after", b); !ok {
		return heapProfile{}
	}
	hp.top, _ = h.top(b, 10)
	return hp
}

// gzipFile writes src gzipped to dst (heaptrack's tools read .gz).
func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}
