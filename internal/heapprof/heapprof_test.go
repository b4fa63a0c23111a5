package heapprof

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
)

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

func TestHeapTop(t *testing.T) {
	t.Parallel()
	keep := hold(8 << 20)
	runtime.GC() // inuse_space reflects the last completed GC
	var prof bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&prof, 0); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(keep)
	top, err := Top(prof.Bytes(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) == 0 || !strings.HasSuffix(top[0].Func, "heapprof.hold") || top[0].InuseBytes < 4<<20 {
		t.Fatalf("heap top %+v, want heapprof.hold first with about 8 MiB", top)
	}
	for i := 1; i < len(top); i++ {
		if top[i].InuseBytes > top[i-1].InuseBytes {
			t.Errorf("heap top not sorted: %+v", top)
		}
	}
	if _, err := Top([]byte("not a profile"), 10); err == nil {
		t.Error("Top accepted garbage")
	}
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
	diff, err := Diff(cur, base, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(diff) == 0 || !strings.HasSuffix(diff[0].Func, "heapprof.holdMore") || diff[0].DeltaBytes < 8<<20 || diff[0].InuseBytes < diff[0].DeltaBytes {
		t.Fatalf("diff %+v, want heapprof.holdMore first, grown by about 16 MiB", diff)
	}
	for _, d := range diff {
		if strings.HasSuffix(d.Func, "heapprof.hold") && d.DeltaBytes > 2<<20 {
			t.Errorf("heapprof.hold, unchanged, shows growth %d", d.DeltaBytes)
		}
	}
	if _, err := Diff([]byte("x"), base, 10); err == nil {
		t.Error("Diff accepted garbage")
	}
	tm, err := JSONDiff([]byte(`[{"func":"a.py:1","inuse_bytes":9},{"func":"b.py:2","inuse_bytes":5}]`), []byte(`[{"func":"a.py:1","inuse_bytes":2},{"func":"b.py:2","inuse_bytes":5}]`), 10)
	if err != nil || len(tm) != 1 || tm[0] != (Delta{Func: "a.py:1", DeltaBytes: 7, InuseBytes: 9}) {
		t.Errorf("JSONDiff = %+v, %v", tm, err)
	}
}

func TestJSONHeapTop(t *testing.T) {
	t.Parallel()
	top, err := JSONTop([]byte(`[{"func":"a.py:1","inuse_bytes":5},{"func":"b.py:2","inuse_bytes":9},{"func":"c.py:3","inuse_bytes":1}]`), 2)
	if err != nil || len(top) != 2 || top[0].Func != "b.py:2" || top[1].InuseBytes != 5 {
		t.Errorf("JSONTop = %+v, %v", top, err)
	}
	if _, err := JSONTop([]byte(`{"not":"a list"}`), 2); err == nil {
		t.Error("JSONTop accepted an object")
	}
}

// A baseline's JSON heap top against a run's pprof profile (heap: auto's
// evidence before and after it was saved as pprof): no diff, and a line
// that says why and what to do.
func TestDiffOfAnotherKindSaysSo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cur, base := filepath.Join(dir, "a.pb.gz"), filepath.Join(dir, "a.tracemalloc.json")
	os.WriteFile(cur, heapProfile(t), 0o644)
	os.WriteFile(base, []byte(`[{"func":"a.py:1","inuse_bytes":5}]`), 0o644)
	if top, why := diffFiles(cur, base); top != nil || !strings.Contains(why, "not the same kind of profile") || !strings.Contains(why, "--update-baseline") {
		t.Errorf("diffFiles = %+v, %q", top, why)
	}
}
