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
	"strings"
	"sync"
	"testing"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
)

// watchOnce serves tg's heap endpoint with answer (given the request's
// query and how many requests came before), lets a heap watch see one RSS
// sample well past idle and then finish, and returns the run and the query
// of every fetch in order.
func watchOnce(t *testing.T, tg scenario.Target, answer func(query string, n int) []byte) (heapProfile, []string) {
	t.Helper()
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(queries)
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		w.Write(answer(r.URL.RawQuery, n))
	}))
	defer srv.Close()
	h := newHeapProfiler(context.Background(), tg, func(p string) string { return srv.URL + p }, http.DefaultClient, result.HeapPeak, 100, nil, nil)
	h.observe(1000) // well past idle: one fetch during the flood
	h.wg.Wait()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := h.finish(dir, tg.Name+"-c1-r0", make(chan struct{}))
	mu.Lock()
	defer mu.Unlock()
	return run, queries
}

// goHeapProfile is this process's heap profile, with 4 MiB in use.
func goHeapProfile(t *testing.T) []byte {
	t.Helper()
	keep := make([]byte, 4<<20)
	runtime.GC()
	var prof bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&prof, 0); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(keep)
	return prof.Bytes()
}

// A heap profile can show nothing in use (a small live heap escapes Go's
// sampling); such a profile is not kept as "the one at the peak", and the
// one at the end is taken instead.
func TestHeapWatchSkipsEmptyProfiles(t *testing.T) {
	t.Parallel()
	run, queries := watchOnce(t, scenario.Target{Name: "py", Tracemalloc: "/heap"}, func(_ string, n int) []byte {
		if n == 0 {
			return []byte(`[]`) // a tracemalloc top with nothing in use
		}
		return []byte(`[{"func":"app.py:7","inuse_bytes":4096}]`)
	})
	if len(queries) != 2 || run.at != result.HeapEnd || len(run.top) != 1 || run.top[0].Func != "app.py:7" || !strings.Contains(run.note, "the heap top is the end profile's") {
		t.Errorf("%d fetches, profile at %q, top %+v, note %q; want the empty peak profile passed over for one at the end, and said", len(queries), run.at, run.top, run.note)
	}
	// Nothing in use anywhere: no top, and said.
	run, _ = watchOnce(t, scenario.Target{Name: "py", Tracemalloc: "/heap"}, func(string, int) []byte { return []byte(`[]`) })
	if len(run.top) != 0 || !strings.Contains(run.note, "no heap profile showed anything in use") {
		t.Errorf("empty profiles: top %+v, note %q", run.top, run.note)
	}
}

// A usable profile at the peak is kept, and nothing more is fetched.
func TestHeapWatchKeepsTheProfileAtThePeak(t *testing.T) {
	t.Parallel()
	prof := goHeapProfile(t)
	run, queries := watchOnce(t, scenario.Target{Name: "go", Pprof: "/heap"}, func(string, int) []byte { return prof })
	if len(queries) != 1 || run.at != result.HeapPeak || len(run.top) == 0 {
		t.Errorf("%d fetches, profile at %q, top %d entries; want the peak profile kept", len(queries), run.at, len(run.top))
	}
}

// The profile after the flood asks a Go target for a GC first (gc=1), so
// its in-use figures are current; profiles during the flood never do, as a
// forced GC would lower the peak being measured.
func TestHeapWatchForcesGCOnlyAfterTheFlood(t *testing.T) {
	t.Parallel()
	prof := goHeapProfile(t)
	run, queries := watchOnce(t, scenario.Target{Name: "go", Pprof: "/debug/pprof/heap?debug=0"}, func(query string, _ int) []byte {
		if query == "debug=0&gc=1" {
			return prof
		}
		return []byte("not yet a profile")
	})
	if len(queries) != 2 || queries[0] != "debug=0" || queries[1] != "debug=0&gc=1" || run.at != result.HeapEnd || len(run.top) == 0 {
		t.Errorf("queries %q, profile at %q, top %d entries; want a plain fetch during the flood and gc=1 after it", queries, run.at, len(run.top))
	}
}
