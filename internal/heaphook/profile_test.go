package heaphook

import (
	"bytes"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/heapprof"
	"github.com/floodharness/harness/internal/result"
	"github.com/google/go-cmp/cmp"
	"github.com/google/pprof/profile"
)

// A top saved as a pprof profile reads back as the same top (its entries'
// names, not their innermost frames'), with each entry's stack as frames
// pprof shows: functions, files and lines; an entry without a stack is
// one frame of its name.
func TestProfileKeepsTheTopAndItsStacks(t *testing.T) {
	t.Parallel()
	top := &Top{
		Mechanism: Python, Processes: 2,
		Funcs: []result.HeapFunc{
			{Func: "answer (app.py:77) via response.py:332", InuseBytes: 40 << 20},
			{Func: "held by `cache`, a closure's variable, through Array, Buffer", InuseBytes: 8 << 20},
			{Func: "rows (app.py:10)", InuseBytes: 1 << 20},
		},
		Stacks: map[string][]Frame{
			"answer (app.py:77) via response.py:332": {{Func: "Response.set_data", File: "/usr/lib/python3/dist-packages/werkzeug/response.py", Line: 332}, {Func: "answer", File: "/srv/app.py", Line: 77}},
			"rows (app.py:10)":                       {{Func: "rows", File: "/srv/app.py", Line: 10}, {Func: "answer", File: "/srv/app.py", Line: 70}},
		},
	}
	b, err := top.Profile()
	if err != nil {
		t.Fatal(err)
	}
	got, err := heapprof.Top(b, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(top.Funcs, got); diff != "" {
		t.Errorf("the profile's top (-saved +read):\n%s", diff)
	}
	p, err := profile.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Sample {
		name := s.Label[heapprof.EntryLabel][0]
		want := top.Stacks[name]
		if want == nil {
			want = []Frame{{Func: name}}
		}
		if diff := cmp.Diff(want, framesOf(s)); diff != "" {
			t.Errorf("%s: stack (-want +got):\n%s", name, diff)
		}
	}
	// A diff against a profile holding less names the entry that grew,
	// from another count of processes (a worker respawned meanwhile).
	less := *top
	less.Processes = 3
	less.Funcs = []result.HeapFunc{{Func: top.Funcs[0].Func, InuseBytes: 10 << 20}}
	base, err := less.Profile()
	if err != nil {
		t.Fatal(err)
	}
	d, err := heapprof.Diff(b, base, 1)
	if err != nil || len(d) != 1 || d[0].Func != top.Funcs[0].Func || d[0].DeltaBytes != 30<<20 {
		t.Errorf("diff: %+v, %v; want %s grown by 30 MiB", d, err, top.Funcs[0].Func)
	}
}

func framesOf(s *profile.Sample) []Frame {
	var out []Frame
	for _, l := range s.Location {
		for _, ln := range l.Line {
			out = append(out, Frame{Func: ln.Function.Name, File: ln.Function.Filename, Line: ln.Line})
		}
	}
	return out
}

// wantStack checks that the entry named with prefix has a stack in which
// want's frames come in order (a file by its suffix; no function or no
// line: any), and that the top saved as a profile reads back the same.
func wantStack(t *testing.T, top *Top, prefix string, want ...Frame) {
	t.Helper()
	sameProfile(t, top)
	for _, f := range top.Funcs {
		if !strings.HasPrefix(f.Func, prefix) {
			continue
		}
		stack, i := top.Stacks[f.Func], 0
		for _, fr := range stack {
			if i < len(want) && (want[i].Func == "" || fr.Func == want[i].Func) && strings.HasSuffix(fr.File, want[i].File) && (want[i].Line == 0 || fr.Line == want[i].Line) {
				i++
			}
		}
		if i < len(want) {
			t.Errorf("%s: stack %+v; want %+v in it, in order", f.Func, stack, want)
		}
		return
	}
	t.Errorf("no entry %q in %+v", prefix, top.Funcs)
}

// sameProfile checks that top saved as a profile reads back the same.
func sameProfile(t *testing.T, top *Top) {
	t.Helper()
	b, err := top.Profile()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := heapprof.Top(b, len(top.Funcs)); err != nil || !cmp.Equal(got, top.Funcs) {
		t.Errorf("the saved profile's top: %+v, %v; want %+v", got, err, top.Funcs)
	}
}
