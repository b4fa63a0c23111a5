package heaphook

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/pgroup"
)

// heaptrack_print's report of a C++ program (testdata: s.cc, whose
// render_rows builds four 5 MB strings and load_cache one 4 MiB vector):
// each stack is named by its first frame in the program's own code, with
// the library frame that allocated after it; sizes are summed by name.
func TestParseHeaptrack(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/heaptrack-peak.txt")
	if err != nil {
		t.Fatal(err)
	}
	top, err := ParseHeaptrack(b, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Funcs) < 2 || top.Funcs[0].Func != "render_rows (s.cc:5) via std::__cxx11::basic_string<>::_M_mutate" || top.Funcs[0].InuseBytes < 20e6 {
		t.Errorf("peak top %+v; want render_rows first, its four strings (~21 MB) summed, via the library's _M_mutate", top.Funcs)
	}
	if !strings.HasPrefix(top.Funcs[1].Func, "load_cache (s.cc:6)") || top.TracedBytes != 25760000 {
		t.Errorf("second %+v, heap peak %d; want load_cache (its vector, inlined from system headers, named by the program's line) and 25.76M", top.Funcs[1], top.TracedBytes)
	}
	wantStack(t, top, "render_rows (s.cc:5)", Frame{Func: "std::__cxx11::basic_string<>::operator+=", File: "bits/basic_string.h", Line: 1340},
		Frame{Func: "render_rows", File: "/tmp/ht/s.cc", Line: 5}, Frame{Func: "main", File: "/tmp/ht/s.cc", Line: 7})
	b, err = os.ReadFile("testdata/heaptrack-leaks.txt")
	if err != nil {
		t.Fatal(err)
	}
	if top, err = ParseHeaptrack(b, 3); err != nil || len(top.Funcs) != 1 || top.Funcs[0].Func != "load_cache (s.cc:6) via std::__new_allocator<>::allocate" || top.Funcs[0].InuseBytes != 4190000 {
		t.Errorf("leaks top %+v (%v); want what is still held: load_cache's 4.19M", top, err)
	}
}

func TestFrameShort(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"render_rows(int)": "render_rows",
		"void std::vector<>::_M_realloc_insert<>(__gnu_cxx::__normal_iterator<>, std::__cxx11::basic_string<>&&)": "std::vector<>::_M_realloc_insert<>",
		"(anonymous namespace)::build(char const*)":                                                               "(anonymous namespace)::build",
		"operator new(unsigned long)":                                                                             "operator new",
		"0x7f9edb0a57b9":                                                                                          "0x7f9edb0a57b9",
		"main":                                                                                                    "main",
	} {
		if got := (frame{fn: in}).short(); got != want {
			t.Errorf("short(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseHeaptrack(f *testing.F) {
	for _, name := range []string{"testdata/heaptrack-peak.txt", "testdata/heaptrack-leaks.txt"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("PEAK MEMORY CONSUMERS\n1.0M peak memory consumed over 1 calls from\n    at x.c:1\n  f\n    in /lib/libc.so\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		top, err := ParseHeaptrack(b, 5)
		if err != nil {
			return
		}
		if len(top.Funcs) > 5 {
			t.Fatalf("%d entries, asked for 5", len(top.Funcs))
		}
		for _, fn := range top.Funcs {
			if fn.InuseBytes <= 0 || fn.Func == "" {
				t.Fatalf("entry %+v", fn)
			}
		}
	})
}

// held is a C program as its author wrote it: fill_cache holds 24 MiB
// (three 8 MiB blocks), frees one, and the program waits; static builds
// it without the dynamic loader (no preload can reach it).
const held = `#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static char *keep[3];
__attribute__((noinline)) static char *fill_cache(size_t n) { char *p = malloc(n); memset(p, 'x', n); return p; }
int main(void) {
	for (int i = 0; i < 3; i++) keep[i] = fill_cache(8 << 20);
	free(keep[2]);
	sleep(30);
	return 0;
}
`

// startNative builds held (with extra cc flags) and starts it with a
// native hook's environment.
func startNative(t *testing.T, flags ...string) (*Hook, []int) {
	t.Helper()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs gcc and heaptrack", "gcc", "heaptrack_print")
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "held.c"), filepath.Join(dir, "held")
	if err := os.WriteFile(src, []byte(held), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", append([]string{"-O1", "-g", "-o", bin, src}, flags...)...).CombinedOutput(); err != nil {
		t.Skipf("gcc %v: %v\n%s", flags, err, out)
	}
	h, err := Prepare(filepath.Join(dir, "heap"), "native", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cmd := pgroup.Command(bin)
	cmd.Stderr, cmd.Env = os.Stderr, os.Environ()
	for k, v := range h.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pgroup.Signal(cmd, syscall.SIGKILL); cmd.Wait() })
	time.Sleep(500 * time.Millisecond) // its allocations made
	return h, []int{cmd.Process.Pid}
}

// A native program, unedited, traced by heaptrack preloaded from its
// environment: the top at the heap's peak names its own function and
// line (all three blocks), and what it holds now (two).
func TestNativeHeapTopFromOutside(t *testing.T) {
	t.Parallel()
	h, pids := startNative(t)
	if !h.KeepsPeak() || !strings.HasSuffix(h.Env["LD_PRELOAD"], "libheaptrack_preload.so") {
		t.Fatalf("native hook: keeps peak %v, env %v", h.KeepsPeak(), h.Env)
	}
	peak, err := h.Fetch(pids, 3, 10*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(peak.Funcs) == 0 || !strings.HasPrefix(peak.Funcs[0].Func, "fill_cache (held.c:5)") || peak.Funcs[0].InuseBytes < 24<<20 || peak.Mechanism != Native {
		t.Errorf("top at the peak %+v (%s); want fill_cache's 24 MiB first", peak.Funcs, peak.Mechanism)
	}
	now, err := h.Fetch(pids, 3, 10*time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(now.Funcs) == 0 || !strings.HasPrefix(now.Funcs[0].Func, "fill_cache (held.c:5)") || now.Funcs[0].InuseBytes < 16<<20 || now.Funcs[0].InuseBytes >= 24<<20 {
		t.Errorf("top held now %+v; want fill_cache's 16 MiB still held", now.Funcs)
	}
	if st, err := os.Stat(h.Trace()); err != nil || st.Size() == 0 {
		t.Errorf("the interpreted trace for heaptrack's own tools: %v", err)
	}
}

// A static binary loads no preload: no trace, said in a line, no hang.
func TestNativeHookOnAStaticBinary(t *testing.T) {
	t.Parallel()
	h, pids := startNative(t, "-static")
	if _, err := h.Fetch(pids, 3, time.Second, false); err == nil || !strings.Contains(err.Error(), "static binary") {
		t.Errorf("a static binary: %v; want the trace missing, said", err)
	}
}
