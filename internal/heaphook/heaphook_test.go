package heaphook

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/pgroup"
	"github.com/google/go-cmp/cmp"
)

// app is a server's code as its author wrote it: rows parsed by the json
// library (a pure-Python caller of a C parser), and a worker forked after
// start that holds 40 MiB of its own.
const app = `import json, os, sys, time

def build():
    return json.loads("[" + ",".join(['{"a": "%s"}' % ("x" * 100)] * 50000) + "]")

HELD = build()
if os.fork() == 0:
    CHILD = bytearray(40 << 20)
    time.sleep(30)
    os._exit(0)
time.sleep(30)
`

// Unedited, a CPython process and a worker it forks after start answer
// with their heap tops, merged: each site named by its enclosing function
// and file:line in the app's own file, a library's allocation led on to
// the app's line that called it.
func TestHeapTopFromOutside(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs it", "python3")
	h, _ := startHooked(t, "app.py", app, "python3", "app.py")
	pids := readyForked(t, h)
	top, err := h.Fetch(pids, 5, 10*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	var worker, rows bool
	for _, f := range top.Funcs {
		worker = worker || strings.HasPrefix(f.Func, "<module> (app.py:8)") && f.InuseBytes >= 40<<20
		rows = rows || strings.HasPrefix(f.Func, "build (app.py:4) via decoder.py:") && f.InuseBytes >= 10<<20
	}
	if top.Processes != 2 || !worker || !rows || top.TracemallocBytes <= 0 {
		t.Errorf("top %+v; want 2 processes, the worker's bytearray at app.py:8 and the rows at build (app.py:4) via the json decoder", top)
	}
	wantStack(t, top, "build (app.py:4) via decoder.py:", Frame{File: "json/decoder.py"}, Frame{Func: "build", File: "/app.py", Line: 4})
	// Marked idle, the same memory is no longer the flood's: a top counts
	// what was allocated since and is still held.
	if err := h.Mark(pids, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if top, err = h.Fetch(pids, 5, 10*time.Second, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range top.Funcs {
		if f.InuseBytes >= 1<<20 {
			t.Errorf("after the idle mark: %+v; want nothing held since", f)
		}
	}
	if _, err := (&Hook{Dir: h.Dir}).Fetch([]int{1}, 5, time.Second, false); err != ErrNoRuntime {
		t.Errorf("a process without the hook: %v", err)
	}
}

// startHooked writes src as file in a directory of its own and runs it
// there (its own process group, killed at the test's end) with the hooks
// prepared for it in its environment.
func startHooked(t *testing.T, file, src, bin string, args ...string) (*Hook, *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := Prepare(filepath.Join(dir, "heap"), "", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	cmd := pgroup.Command(bin, args...)
	cmd.Dir, cmd.Stderr, cmd.Env = dir, os.Stderr, os.Environ()
	for k, v := range h.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pgroup.Signal(cmd, syscall.SIGKILL); cmd.Wait() })
	return h, cmd
}

// readyForked waits for a process and the worker it forks to load the
// hook, and returns their pids.
func readyForked(t *testing.T, h *Hook) []int {
	t.Helper()
	var pids []int
	for deadline := time.Now().Add(20 * time.Second); len(pids) < 2 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		pids = readyPIDs(t, h.Dir)
	}
	if len(pids) < 2 {
		t.Fatalf("ready: %v; want the process and its forked worker", pids)
	}
	return pids
}

func readyPIDs(t *testing.T, dir string) []int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "ready-*"))
	var pids []int
	for _, f := range files {
		if pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(f), "ready-")); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// rbApp is a Ruby server's code as its author wrote it: an answer made by
// the json library, and a worker forked after start holding 20 MiB.
const rbApp = `require 'json'
def build
  JSON.generate((1..20000).map { |i| { id: i, v: 'x' * 100 } })
end
HELD = [build]
SLICE = HELD[0].byteslice(100..-1) # ruby moves the buffer into a string the slice shares
if fork.nil?
  CHILD = 'y' * (20 << 20)
  sleep 30
  exit!
end
sleep 30
`

// Unedited, a Ruby process and a worker it forks answer with their heap
// tops from ObjectSpace's allocation tracing, merged: the worker's string
// at its line, by method; the json library's string on the app's function
// that asked for it (ObjectSpace keeps the library's frame alone), its
// buffer too once a slice of it took the buffer over.
func TestRubyHeapTopFromOutside(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs it", "ruby")
	h, _ := startHooked(t, "app.rb", rbApp, "ruby", "app.rb")
	top, err := h.Fetch(readyForked(t, h), 5, 10*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	var worker, library bool
	for _, f := range top.Funcs {
		worker = worker || f.Func == "String#* (app.rb:8)" && f.InuseBytes >= 20<<20
		library = library || strings.HasPrefix(f.Func, "build (app.rb:3) via ") && strings.Contains(f.Func, "(json/common.rb:") && f.InuseBytes >= 2*(2<<20)
	}
	if top.Processes != 2 || top.Mechanism != Ruby || !worker || !library {
		t.Errorf("top %+v; want 2 processes, the worker's string at app.rb:8 and the json library's answers (2 MiB, one in each process) on build (app.rb:3)", top)
	}
	wantStack(t, top, "build (app.rb:3) via ", Frame{Func: "JSON::Ext::Generator::State#generate", File: "json/common.rb"}, Frame{Func: "build", File: "/app.rb", Line: 3})
}

// nodeApp is a Node server as its author wrote it: each answer rendered
// whole into a Buffer (outside the V8 heap), the last four kept.
const nodeApp = `const http = require('http');
const held = [];
function render(n) {
  const rows = [];
  for (let i = 0; i < n; i++) rows.push({ id: i, v: 'x'.repeat(100) });
  return Buffer.from(JSON.stringify(rows));
}
http.createServer((req, res) => {
  if (req.url === '/health') return res.end('ok');
  const b = render(20000);
  held.push(b);
  if (held.length > 4) held.shift();
  res.end(b);
}).listen(Number(process.argv[2]), '127.0.0.1');
`

// Unedited, a Node server's inspector (opened on a loopback port the hook
// picked, through NODE_OPTIONS) gives the heap top from a snapshot with
// allocation tracking: the Buffers' bytes, outside the V8 heap, on the
// server's own function that made them.
func TestNodeHeapTopFromOutside(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "install Node 20 (Debian's nodejs)", "node")
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	h, cmd := startHooked(t, "app.js", nodeApp, "node", "app.js", strconv.Itoa(port))
	base := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(base + "health"); err == nil {
			resp.Body.Close()
			break
		}
	}
	if err := h.Mark([]int{cmd.Process.Pid}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		resp, err := http.Get(base)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	top, err := h.Fetch([]int{cmd.Process.Pid}, 5, 30*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	// Large Buffers are named by the stack the injected tagger put on
	// each (V8's allocation tracker left most without a stack, some on
	// stacks that never made them).
	if top.Mechanism != Node || len(top.Funcs) == 0 || !strings.HasPrefix(top.Funcs[0].Func, "render (") || !strings.HasSuffix(top.Funcs[0].Func, "/app.js:6)") || top.Funcs[0].InuseBytes < 4*2300000 {
		t.Errorf("top %+v; want the four Buffers (~9.6 MB) on the function that made them, render (app.js:6)", top.Funcs)
	}
	wantStack(t, top, "render (", Frame{Func: "render", File: "/app.js", Line: 6}, Frame{Func: "(anonymous)", File: "/app.js", Line: 10})
}

// taggedSnapshot is a heap snapshot of one Buffer the tagger marked,
// holding a 2 MB ArrayBuffer outside the V8 heap.
const taggedSnapshot = `{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"]],"trace_function_info_fields":["function_id","name","script_name","script_id","line","column"]}},` +
	`"nodes":[3,0,1,80,2,0, 2,4,2,100,0,0, 3,1,3,88,1,0, 9,6,4,2000000,0,0],"edges":[2,3,6, 3,5,12, 3,2,18],"trace_function_infos":[],"trace_tree":[],` +
	`"strings":["Buffer","ArrayBuffer","backing_store","__flood_site","render\t/srv/app.js\t9\n(anonymous)\t/srv/app.js\t14\nemit\tnode:events\t524","buffer","system / JSArrayBufferData"]}`

// A large Buffer the tagger marked is named by the stack in its tag, the
// server's own frame first, and keeps that stack.
func TestSnapshotTopNamesATaggedBuffer(t *testing.T) {
	t.Parallel()
	top, total, err := snapshotTop([]byte(taggedSnapshot), 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []entry{{Func: "render (srv/app.js:9)", InuseBytes: 2000000, Stack: []Frame{{Func: "render", File: "/srv/app.js", Line: 9}, {Func: "(anonymous)", File: "/srv/app.js", Line: 14}, {Func: "emit", File: "node:events", Line: 524}}}}
	if diff := cmp.Diff(want, top); diff != "" || total != 2000000 {
		t.Errorf("snapshotTop: total %d, top (-want +got):\n%s", total, diff)
	}
}

// A heap snapshot's reader takes any bytes without a panic, and what it
// attributes adds up to no more than it read.
func FuzzSnapshotTop(f *testing.F) {
	f.Add([]byte(taggedSnapshot))
	f.Add([]byte(`{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","property"]]}},"nodes":[3,0,1,100,2,1],"edges":[-1,0,0, 1,0,-6],"strings":["backing_store"]}`))
	f.Add([]byte(`{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"]],"trace_function_info_fields":["function_id","name","script_name","script_id","line","column"]}},"nodes":[3,0,1,100,1,1,8,1,2,2000000,0,0],"edges":[3,2,6],"trace_function_infos":[1,0,3,1,5,1],"trace_tree":[1,0,1,100,[]],"strings":["render","ArrayBuffer","backing_store","/srv/app.js"]}`))
	f.Add([]byte(`{"nodes":[1,2,3],"edges":[-1]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		top, total, err := snapshotTop(b, 5)
		if err != nil {
			return
		}
		var sum int64
		for _, h := range top {
			sum += h.InuseBytes
		}
		if sum > total && total >= 0 {
			t.Errorf("top %+v adds to %d, more than the total %d", top, sum, total)
		}
	})
}

// A Node server whose command line opens its own inspector (overriding
// NODE_OPTIONS'): the hook says so in a line, and what to do.
func TestNodeWithAnInspectorOfItsOwn(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "install Node 20 (Debian's nodejs)", "node")
	h, cmd := startHooked(t, "idle.js", "setInterval(() => {}, 1000);\n", "node", "--inspect=127.0.0.1:0", "idle.js")
	pids := []int{cmd.Process.Pid}
	time.Sleep(300 * time.Millisecond)
	if err := h.Mark(pids, time.Second); err == nil || !strings.Contains(err.Error(), "an inspector of its own (--inspect=127.0.0.1:0 in its command line)") {
		t.Errorf("Mark: %v; want the server's own inspector named", err)
	}
	if _, err := h.Fetch(pids, 5, time.Second, false); err == nil || !strings.Contains(err.Error(), "set heap: off") {
		t.Errorf("Fetch: %v; want the server's own inspector named, and what to do", err)
	}
}
