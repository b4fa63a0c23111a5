package sweep

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
)

// A heap profile can show nothing in use (a small live heap escapes Go's
// sampling); such a profile is not kept as "the one at the peak", and the
// one at the end is taken instead.
func TestHeapWatchSkipsEmptyProfiles(t *testing.T) {
	t.Parallel()
	empty := []byte(`[]`) // a tracemalloc top with nothing in use
	full := []byte(`[{"func":"app.py:7","inuse_bytes":4096}]`)
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fetches.Add(1) == 1 {
			w.Write(empty)
			return
		}
		w.Write(full)
	}))
	defer srv.Close()
	tg := scenario.Target{Name: "py", Tracemalloc: "/heap"}
	h := newHeapWatch(context.Background(), tg, func(p string) string { return srv.URL + p }, "peak", 100)
	h.observe(1000) // well past idle: fetches, and gets the empty top
	h.wg.Wait()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := result.Run{Target: "py"}
	h.finish(dir, "c1-r0", make(chan struct{}), &run)
	if fetches.Load() != 2 || run.HeapProfileAt != "end" || len(run.HeapTop) != 1 || run.HeapTop[0].Func != "app.py:7" {
		t.Errorf("%d fetches, profile at %q, top %+v; want the empty peak profile passed over for one at the end", fetches.Load(), run.HeapProfileAt, run.HeapTop)
	}
}

// A usable profile at the peak is kept, and nothing more is fetched.
func TestHeapWatchKeepsTheProfileAtThePeak(t *testing.T) {
	t.Parallel()
	keep := make([]byte, 4<<20)
	runtime.GC()
	var prof bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&prof, 0); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(keep)
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Write(prof.Bytes())
	}))
	defer srv.Close()
	h := newHeapWatch(context.Background(), scenario.Target{Pprof: "/heap"}, func(p string) string { return srv.URL + p }, "peak", 100)
	h.observe(1000)
	h.wg.Wait()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := result.Run{Target: "go"}
	h.finish(dir, "c1-r0", make(chan struct{}), &run)
	if fetches.Load() != 1 || run.HeapProfileAt != "peak" || len(run.HeapTop) == 0 {
		t.Errorf("%d fetches, profile at %q, top %d entries; want the peak profile kept", fetches.Load(), run.HeapProfileAt, len(run.HeapTop))
	}
}

// The profile after the flood asks a Go target for a GC first (gc=1), so
// its in-use figures are current; profiles during the flood never do, as a
// forced GC would lower the peak being measured.
func TestHeapWatchForcesGCOnlyAfterTheFlood(t *testing.T) {
	t.Parallel()
	var prof bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&prof, 0); err != nil {
		t.Fatal(err)
	}
	var queries []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		if r.URL.Query().Get("gc") == "1" {
			w.Write(prof.Bytes())
			return
		}
		w.Write([]byte("not yet a profile"))
	}))
	defer srv.Close()
	h := newHeapWatch(context.Background(), scenario.Target{Pprof: "/debug/pprof/heap?debug=0"}, func(p string) string { return srv.URL + p }, "peak", 100)
	h.observe(1000)
	h.wg.Wait()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := result.Run{Target: "go"}
	h.finish(dir, "c1-r0", make(chan struct{}), &run)
	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 2 || queries[0] != "debug=0" || queries[1] != "debug=0&gc=1" || run.HeapProfileAt != "end" || len(run.HeapTop) == 0 {
		t.Errorf("queries %q, profile at %q, top %d entries; want a plain fetch during the flood and gc=1 after it", queries, run.HeapProfileAt, len(run.HeapTop))
	}
}
