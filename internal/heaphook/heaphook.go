// Package heaphook takes an interpreted server's heap top from outside,
// with no change to its code or its command line, through the
// environment its runtime reads at start: for CPython a sitecustomize put
// first on PYTHONPATH starts tracemalloc, for Ruby (MRI) a file RUBYOPT
// requires starts ObjectSpace's allocation tracing, in every process of
// the server (workers forked after start included), and each process
// answers a request file with its top — allocation sites by file:line and
// their function; for Node, NODE_OPTIONS opens the inspector on a loopback
// port picked here, and a heap snapshot with allocation tracking names
// what holds the memory, Buffers outside the V8 heap included; for native
// code (C, C++, Rust), LD_PRELOAD loads heaptrack, whose trace of every
// allocation gives the stacks holding the most at the heap's peak. Fetch
// merges them into one.
package heaphook

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/proc"
	"github.com/floodharness/harness/internal/result"
)

//go:embed sitecustomize.py
var pyHook []byte

//go:embed flood_heap.rb
var rbHook []byte

//go:embed flood_heap.js
var jsHook []byte

// Mechanisms are what results say took the evidence, by runtime.
const (
	Python = "tracemalloc (injected: sitecustomize on PYTHONPATH)"
	Ruby   = "ObjectSpace allocation tracing (injected: RUBYOPT -r)"
)

// Hook is a prepared injection: the environment a server starts with, and
// where its processes answer.
type Hook struct {
	Dir    string // the processes' answers (ready-PID, PID-SEQ.json)
	Env    map[string]string
	node   *inspector   // a Node server's inspector, on a loopback port picked here
	native *nativeTrace // a native server's heaptrack trace
}

// Prepare writes the hooks for a server of runtime (proc.Runtime: a
// native server gets heaptrack, any other every interpreter's hook) under
// dir and returns the environment that loads them; env is what the
// server's environment would have held (its PYTHONPATH kept after the
// hook's, its RUBYOPT before the hook's, its LD_PRELOAD after heaptrack's).
func Prepare(dir, runtime string, env func(string) (string, bool)) (*Hook, error) {
	if runtime == "native" {
		tool, err := FindHeaptrack()
		if err != nil {
			return nil, err
		}
		// Dir is one below dir, as the other hooks' answers are: the
		// caller removes its parent.
		native := filepath.Join(dir, "native")
		if err := os.MkdirAll(native, 0o755); err != nil {
			return nil, err
		}
		t := &nativeTrace{tool: tool, raw: filepath.Join(native, "heaptrack.raw")}
		return &Hook{Dir: native, native: t, Env: t.env(env)}, nil
	}
	code, answers := filepath.Join(dir, "py"), filepath.Join(dir, "answers")
	for _, d := range []string{code, answers} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	rb, js := filepath.Join(code, "flood_heap.rb"), filepath.Join(code, "flood_heap.js")
	for name, b := range map[string][]byte{filepath.Join(code, "sitecustomize.py"): pyHook, rb: rbHook, js: jsHook} {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			return nil, err
		}
	}
	path := code
	if p, ok := env("PYTHONPATH"); ok && p != "" {
		path += string(os.PathListSeparator) + p
	}
	rubyopt := "-r" + rb
	if o, ok := env("RUBYOPT"); ok && o != "" {
		rubyopt = o + " " + rubyopt
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	nodeOpts := fmt.Sprintf("--require %s --inspect=127.0.0.1:%d", js, port)
	if o, ok := env("NODE_OPTIONS"); ok && o != "" {
		nodeOpts = o + " " + nodeOpts
	}
	return &Hook{Dir: answers, node: &inspector{port: port},
		Env: map[string]string{"PYTHONPATH": path, "RUBYOPT": rubyopt, "NODE_OPTIONS": nodeOpts, "FLOOD_HEAP_DIR": answers}}, nil
}

// Close closes a Node server's inspector connection, if one was opened.
func (h *Hook) Close() {
	if h.node != nil {
		h.node.close()
	}
}

// answer is one process's heap top.
type answer struct {
	PID              int     `json:"pid"`
	Mechanism        string  `json:"mechanism"`
	Top              []entry `json:"top"`
	TracedBytes      int64   `json:"traced_bytes"`
	TracemallocBytes int64   `json:"tracemalloc_bytes"`
	Error            string  `json:"error"`
}

// Top is the merged heap top of a server's processes.
type Top struct {
	Funcs []result.HeapFunc `json:"top"`
	// Stacks are the entries' stacks by name (the largest part's,
	// innermost frame first), where the runtime gave one: Profile's.
	Stacks map[string][]Frame `json:"-"`
	// Mechanism is what took it (Python, Ruby); Processes how many
	// answered, and TracemallocBytes what tracemalloc itself held in them
	// (Ruby's tracing does not say): the cost of measuring.
	Mechanism        string `json:"mechanism"`
	Processes        int    `json:"processes"`
	TracedBytes      int64  `json:"traced_bytes"`
	TracemallocBytes int64  `json:"tracemalloc_bytes"`
}

// Mark has every process of pids that loaded the hook remember what each
// site holds now (the server idle, before the flood), so later tops count
// what was allocated since and is still held: the flood's memory, not the
// imports' (25 MiB of a gunicorn app's three processes here).
func (h *Hook) Mark(pids []int, wait time.Duration) error {
	if h.native != nil {
		return nil // heaptrack's peak is the heap's: what the flood added tops it
	}
	_, err := h.ask(pids, 0, wait)
	if h.node == nil || !waitInspector(context.Background(), h.node.port, time.Second) {
		if err != nil {
			return ownInspector(pids, err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return h.node.mark(ctx) // Node: allocation tracking from now on
}

// ErrNoRuntime says no process of the target loaded a hook: neither
// CPython nor Ruby, or one started so as to skip its environment (-S,
// -I, --disable-gems).
var ErrNoRuntime = errors.New("no process of the target loaded a heap hook: not CPython or Ruby, nor a Node server whose inspector answered (Go: serve net/http/pprof and set heap: pprof; a native server needs heaptrack)")

// KeepsPeak says whether the mechanism finds the heap's peak itself
// (heaptrack traces every allocation): one reading after the flood is the
// top at the peak, even of a server killed at its cap.
func (h *Hook) KeepsPeak() bool { return h.native != nil }

// TraceBytes is how much the native trace holds now (0 for none): a
// malloc-heavy server writes it fast (a loop of malloc and free wrote
// 700 MB in 2 s here).
func (h *Hook) TraceBytes() int64 {
	if h.native == nil {
		return 0
	}
	st, err := os.Stat(h.native.raw)
	if err != nil {
		return 0
	}
	return st.Size()
}

// Trace is the native trace's file for heaptrack's own tools, "" for none.
func (h *Hook) Trace() string {
	if h.native == nil {
		return ""
	}
	return h.native.Interpreted()
}

// Fetch asks every process in pids that loaded the hook for its top n
// and merges what they answer within wait (a busy process answers between
// its own work); a process gone meanwhile is not waited for. A native
// trace is read instead: its top at the heap's peak, or with end what is
// held now.
func (h *Hook) Fetch(pids []int, n int, wait time.Duration, end bool) (*Top, error) {
	if h.native != nil {
		alive := func() bool { return slices.ContainsFunc(pids, proc.Exists) }
		return h.native.top(context.Background(), n, end, alive, wait)
	}
	got, err := h.ask(pids, n, wait)
	if h.node != nil && h.node.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		a, nerr := h.node.top(ctx, n)
		if nerr != nil {
			return nil, nerr
		}
		if got == nil {
			got = map[int]answer{}
		}
		got[0], err = *a, nil
	}
	if err != nil {
		return nil, ownInspector(pids, err)
	}
	return merge(got, n)
}

// ownInspector says, for a Node server whose command line opens its own
// inspector (a command-line --inspect overrides NODE_OPTIONS'), why the
// harness's could not be reached; err otherwise.
func ownInspector(pids []int, err error) error {
	for _, pid := range pids {
		for _, arg := range proc.Cmdline(pid) {
			if strings.HasPrefix(arg, "--inspect") {
				return fmt.Errorf("the server opens an inspector of its own (%s in its command line), which overrides the one heap: auto opens on a port of its own: take it out of the command, or set heap: off", arg)
			}
		}
	}
	return err
}

// ask writes a request for the top n (0: the idle mark) and gathers the
// answers of the processes in pids that loaded the hook, within wait.
func (h *Hook) ask(pids []int, n int, wait time.Duration) (map[int]answer, error) {
	var ready []int
	for _, pid := range pids {
		if _, err := os.Stat(filepath.Join(h.Dir, "ready-"+strconv.Itoa(pid))); err == nil {
			ready = append(ready, pid)
		}
	}
	if len(ready) == 0 {
		return nil, ErrNoRuntime
	}
	seq := strconv.FormatInt(time.Now().UnixNano(), 10)
	tmp := filepath.Join(h.Dir, ".req")
	if err := os.WriteFile(tmp, []byte(seq+" "+strconv.Itoa(n)), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(h.Dir, "req")); err != nil {
		return nil, err
	}
	got := map[int]answer{}
	for deadline := time.Now().Add(wait); len(got) < len(ready) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, pid := range ready {
			if _, ok := got[pid]; ok {
				continue
			}
			file := filepath.Join(h.Dir, fmt.Sprintf("%d-%s.json", pid, seq))
			b, err := os.ReadFile(file)
			if err != nil {
				continue
			}
			os.Remove(file)
			var a answer
			if json.Unmarshal(b, &a) == nil {
				got[pid] = a
			}
		}
	}
	return got, nil
}

// merge sums the processes' tops by function: workers running the same
// code hold memory at the same sites.
func merge(got map[int]answer, n int) (*Top, error) {
	t := &Top{}
	var all tally
	var errs []string
	for _, a := range got {
		if a.Error != "" {
			errs = append(errs, fmt.Sprintf("pid %d: %s", a.PID, a.Error))
			continue
		}
		t.Processes++
		t.Mechanism = a.Mechanism
		t.TracedBytes += a.TracedBytes
		t.TracemallocBytes += a.TracemallocBytes
		for _, e := range a.Top {
			all.add(e)
		}
	}
	if t.Processes == 0 {
		if len(errs) > 0 {
			return nil, errors.New("heap hook: " + strings.Join(errs, "; "))
		}
		return nil, errors.New("heap hook: no process answered in time")
	}
	t.Funcs, t.Stacks = all.top(n)
	return t, nil
}
