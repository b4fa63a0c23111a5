package heaphook

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Native is what results say took a native server's evidence.
const Native = "heaptrack (injected: LD_PRELOAD)"

// Heaptrack is where heaptrack's parts are: the library preloaded into
// the server (it writes every allocation and free, with its stack, to the
// file DUMP_HEAPTRACK_OUTPUT names), the interpreter that symbolises that
// raw trace, and the printer that finds the peak in it.
type Heaptrack struct {
	Preload, Interpret, Print string
}

// FindHeaptrack finds heaptrack beside its printer on PATH (Debian puts
// the library and interpreter in /usr/lib/heaptrack).
func FindHeaptrack() (Heaptrack, error) { return FindHeaptrackWith(exec.LookPath) }

// FindHeaptrackWith is FindHeaptrack with PATH searched by lookPath.
func FindHeaptrackWith(lookPath func(string) (string, error)) (Heaptrack, error) {
	printer, err := lookPath("heaptrack_print")
	if err != nil {
		return Heaptrack{}, errors.New("heaptrack is not installed (scripts/install-deps.sh installs it)")
	}
	prefix := filepath.Dir(filepath.Dir(printer))
	for _, lib := range []string{"lib/heaptrack", "lib/x86_64-linux-gnu/heaptrack", "lib64/heaptrack", "lib/aarch64-linux-gnu/heaptrack"} {
		h := Heaptrack{
			Preload:   filepath.Join(prefix, lib, "libheaptrack_preload.so"),
			Interpret: filepath.Join(prefix, lib, "libexec", "heaptrack_interpret"),
			Print:     printer,
		}
		if isFile(h.Preload) && isFile(h.Interpret) {
			return h, nil
		}
	}
	return Heaptrack{}, fmt.Errorf("heaptrack_print is at %s, but not its preload library and interpreter (lib/heaptrack under %s)", printer, prefix)
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// nativeTrace is a native server's heaptrack trace: the first process
// that loads the library traces itself into raw (it holds a lock on the
// file: a process it forks is not traced, one it execs cannot take the
// file).
type nativeTrace struct {
	tool Heaptrack
	raw  string
}

// env is what loads heaptrack into the server, LD_PRELOAD's own after it.
func (t *nativeTrace) env(env func(string) (string, bool)) map[string]string {
	preload := t.tool.Preload
	if p, ok := env("LD_PRELOAD"); ok && p != "" {
		preload += ":" + p
	}
	return map[string]string{"LD_PRELOAD": preload, "DUMP_HEAPTRACK_OUTPUT": t.raw}
}

// top reads the trace so far: the stacks holding the most at the heap's
// peak, or with end what is held now (heaptrack's "leaked": not freed by
// the end of the trace). The symbolised trace is kept beside the raw one
// (Interpreted), a file heaptrack's own tools open.
func (t *nativeTrace) top(ctx context.Context, n int, end bool, alive func() bool, wait time.Duration) (*Top, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	t.flushed(alive, wait)
	raw, err := os.Open(t.raw)
	if err != nil {
		return nil, fmt.Errorf("no heaptrack trace: the server did not load heaptrack's library (a static binary, or LD_PRELOAD refused): %v", err)
	}
	defer raw.Close()
	out, err := os.Create(t.Interpreted())
	if err != nil {
		return nil, err
	}
	interp := exec.CommandContext(ctx, t.tool.Interpret)
	interp.Stdin, interp.Stdout = raw, out
	var errb bytes.Buffer
	interp.Stderr = &errb
	err = interp.Run()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("heaptrack_interpret: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	args := []string{"-f", t.Interpreted(), "-a", "0", "-T", "0", "-m", "0", "-n", "200"}
	if end {
		args = append(args, "-p", "0", "-l", "1")
	} else {
		args = append(args, "-p", "1", "-l", "0")
	}
	print := exec.CommandContext(ctx, t.tool.Print, args...)
	errb.Reset()
	print.Stderr = &errb
	b, err := print.Output()
	if err != nil {
		return nil, fmt.Errorf("heaptrack_print: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	top, err := ParseHeaptrack(b, n)
	if err != nil {
		return nil, err
	}
	top.Mechanism, top.Processes = Native, 1
	return top, nil
}

// traceBlock is how much heaptrack's library writes at a time: what it
// traced lies in its buffer until a block is full.
const traceBlock = 4096

// flushed waits, while the server is alive, until the trace has grown by
// a block since it was asked (at most wait): everything traced before is
// then written. A busy server fills blocks at once; an idle one only
// with its timer's lines, a block every few seconds (measured here: 4 KiB
// in 1 to 3 s). A server gone has written all it could.
func (t *nativeTrace) flushed(alive func() bool, wait time.Duration) {
	size := func() int64 {
		st, err := os.Stat(t.raw)
		if err != nil {
			return -1
		}
		return st.Size()
	}
	from := size()
	for deadline := time.Now().Add(wait); from >= 0 && size() < from+traceBlock && alive() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
}

// Interpreted is where the symbolised trace is written
// (heaptrack_print -f, or heaptrack_gui, open it).
func (t *nativeTrace) Interpreted() string { return t.raw + ".interpreted" }

// ParseHeaptrack reads heaptrack_print's report of unmerged backtraces
// (-m 0) — its peak consumers, or its leaks — into a heap top of n
// entries: each stack named by the first frame in the server's own code
// (not a system library's, not an inlined system header's), with the
// allocating library frame after it, summed by that name. Its total is
// the heap's peak ("peak heap memory consumption").
func ParseHeaptrack(b []byte, n int) (*Top, error) {
	t := &Top{}
	var sizes tally
	var (
		in     bool    // within the section of stacks
		size   int64   // the current stack's bytes
		frames []frame // the current stack, the allocating frame first
		module string
	)
	flush := func() {
		if size > 0 && len(frames) > 0 {
			sizes.add(entry{Func: nameStack(frames), InuseBytes: size, Stack: stackOf(frames)})
		}
		size, frames, module = 0, nil, ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case line == "PEAK MEMORY CONSUMERS" || line == "MEMORY LEAKS":
			in = true
		case strings.HasPrefix(line, "peak heap memory consumption:"):
			t.TracedBytes, _ = parseSize(strings.TrimSpace(strings.TrimPrefix(line, "peak heap memory consumption:")))
		case !in:
		case trimmed == "":
			flush()
		case !strings.HasPrefix(line, " "):
			// "5.37M peak memory consumed over 18 calls from", "4.19M leaked over 1 calls from"
			flush()
			f := strings.Fields(line)
			if len(f) < 2 || !strings.HasSuffix(line, "calls from") {
				in = false // the summary after the section
				continue
			}
			s, err := parseSize(f[0])
			if err != nil {
				return nil, fmt.Errorf("heaptrack_print: %q: %v", line, err)
			}
			size = s
		case strings.HasPrefix(line, "    at ") && len(frames) > 0:
			frames[len(frames)-1].file = strings.TrimPrefix(trimmed, "at ")
		case strings.HasPrefix(line, "    in ") && len(frames) > 0:
			// The module of an instruction, printed after its first
			// frame: the frames inlined at it follow without one.
			module = strings.TrimPrefix(trimmed, "in ")
			frames[len(frames)-1].module = module
		default:
			frames = append(frames, frame{fn: trimmed, module: module})
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	t.Funcs, t.Stacks = sizes.top(n)
	return t, nil
}

// stackOf is a backtrace's frames as a profile's: the function without
// its parameters, its file and line, or its module without them.
func stackOf(frames []frame) []Frame {
	out := make([]Frame, len(frames))
	for i, f := range frames {
		out[i] = Frame{Func: f.short(), File: f.module}
		if at := strings.LastIndex(f.file, ":"); at > 0 {
			if n, err := strconv.ParseInt(f.file[at+1:], 10, 64); err == nil {
				out[i].File, out[i].Line = f.file[:at], n
			}
		}
	}
	return out
}

// frame is one line of a heaptrack backtrace.
type frame struct {
	fn     string // the function, as demangled
	file   string // file:line, "" without debug information
	module string // the executable or library it is in
}

// own says whether f is the server's own code: not in a system library,
// nor a system header inlined into the server.
func (f frame) own() bool {
	for _, dir := range []string{"/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/"} {
		if strings.HasPrefix(f.module, dir) {
			return false
		}
	}
	return !strings.HasPrefix(f.file, "/usr/include/") && !strings.HasPrefix(f.fn, "0x")
}

// nameStack names a stack by its first frame in the server's own code,
// with the allocating frame after it when that is a library's; a stack
// wholly in libraries by its allocating frame.
func nameStack(frames []frame) string {
	for i, f := range frames {
		if !f.own() {
			continue
		}
		name := f.label()
		if i > 0 {
			name += " via " + frames[0].short()
		}
		return name
	}
	return frames[0].label()
}

// label is "function (file.c:line)", or the function and its module.
func (f frame) label() string {
	switch {
	case f.file != "":
		return f.short() + " (" + filepath.Base(f.file) + ")"
	case f.module != "":
		return f.short() + " (" + filepath.Base(f.module) + ")"
	}
	return f.short()
}

// short is the function without its parameter list, or the return type
// a template's name carries ("void std::vector<>::_M_realloc_insert<>").
func (f frame) short() string {
	fn := f.fn
	if strings.HasSuffix(fn, ")") {
		depth := 0
		for i := len(fn) - 1; i > 0; i-- {
			switch fn[i] {
			case ')':
				depth++
			case '(':
				depth--
			}
			if depth == 0 {
				fn = fn[:i]
				break
			}
		}
	}
	if i := strings.LastIndex(fn, " "); i >= 0 && !strings.Contains(fn, "operator") && !strings.Contains(fn, "(") {
		fn = fn[i+1:]
	}
	return fn
}

// parseSize reads heaptrack's sizes: "5.37M", "72.70K", "128B", "1.00G"
// (decimal units, as it prints them).
func parseSize(s string) (int64, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "K"):
		mult = 1e3
	case strings.HasSuffix(s, "M"):
		mult = 1e6
	case strings.HasSuffix(s, "G"):
		mult = 1e9
	case strings.HasSuffix(s, "T"):
		mult = 1e12
	}
	v, err := strconv.ParseFloat(strings.TrimRight(s, "BKMGT"), 64)
	if err != nil || v < 0 || v > 1e7 {
		return 0, fmt.Errorf("not a heaptrack size: %q", s)
	}
	return int64(v * mult), nil
}
