package heapprof

import (
	"bytes"
	"runtime/pprof"
	"testing"

	"github.com/floodharness/harness/internal/result"
)

// Heap profiles and heap tops come from the target over HTTP: whatever
// arrives, the parsers answer with a top or an error, never a panic, and a
// top is sorted, bounded and holds only positive amounts.
func FuzzHeapTop(f *testing.F) {
	var prof bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&prof, 0); err != nil {
		f.Fatal(err)
	}
	f.Add(prof.Bytes())
	f.Add([]byte("not a profile"))
	f.Fuzz(func(t *testing.T, data []byte) {
		top, err := Top(data, 10)
		if err != nil {
			return
		}
		checkTop(t, top, 10)
	})
}

func FuzzJSONHeapTop(f *testing.F) {
	f.Add([]byte(`[{"func":"a.py:1","inuse_bytes":5},{"func":"b.py:2","inuse_bytes":9}]`))
	f.Add([]byte(`{"not":"a list"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		top, err := JSONTop(data, 3)
		if err != nil {
			return
		}
		for i := 1; i < len(top); i++ {
			if top[i].InuseBytes > top[i-1].InuseBytes {
				t.Fatalf("not sorted: %+v", top)
			}
		}
		if len(top) > 3 {
			t.Fatalf("%d entries, asked for 3", len(top))
		}
	})
}

func checkTop(t *testing.T, top []result.HeapFunc, n int) {
	t.Helper()
	if len(top) > n {
		t.Fatalf("%d entries, asked for %d", len(top), n)
	}
	for i, f := range top {
		if f.InuseBytes <= 0 || (i > 0 && f.InuseBytes > top[i-1].InuseBytes) {
			t.Fatalf("top %+v: want positive amounts, largest first", top)
		}
	}
}
