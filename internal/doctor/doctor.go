// Package doctor says what this host gives the harness: whether a memory
// cap and a kernel peak work here, and what the optional parts need, each
// with a fix where one exists. To find out it makes one capped cgroup and
// removes it, and asks programs for their versions; it starts no target
// and sends no load.
package doctor

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/heaphook"
	"github.com/floodharness/harness/internal/launch"
	"github.com/floodharness/harness/internal/load"
	"github.com/floodharness/harness/internal/pgroup"
)

// Options say where to look; the zero value of a func field means the
// real one.
type Options struct {
	// Cgroups is the cgroup filesystem to probe (cgroup.System()).
	Cgroups cgroup.FS
	// Dir is the project directory, where bin/k6 would be.
	Dir string
	// LookPath finds a program (exec.LookPath).
	LookPath func(string) (string, error)
	// Run runs a program and says whether it exited 0 (for probes such as
	// python3 -c 'import flask').
	Run func(name string, args ...string) error
	// ReadFile reads a file: under /proc, or a script's #! line (os.ReadFile).
	ReadFile func(string) ([]byte, error)
	// Output runs a program and returns its standard output (k6 version).
	Output func(name string, args ...string) ([]byte, error)
	// Containers lists the containers harnesses started that are still
	// there, with whether their harness is gone (launch.Engine.Leftovers).
	Containers func(engine launch.Engine) (names []string, orphaned []bool, err error)
}

// Status is a check's outcome.
type Status string

const (
	OK      Status = "ok"
	Missing Status = "missing" // an optional part is not here
	Weak    Status = "weak"    // works, with a limit worth knowing
	Info    Status = "info"
)

// Check is one line of the report.
type Check struct {
	Name   string
	Status Status
	Detail string
	Fix    string // what to do, where something can be done
}

// Report is what the host gives the harness.
type Report struct {
	Checks []Check
	// Cap: a kernel memory cap (a cgroup) can be made; KernelPeak: the
	// kernel's peak of a cgroup can be read. Without both, memory.limit is
	// enforced by the watchdog.
	Cap, KernelPeak bool
}

func (o *Options) fill() {
	if o.LookPath == nil {
		o.LookPath = exec.LookPath
	}
	if o.Output == nil {
		o.Output = func(name string, args ...string) ([]byte, error) { return exec.Command(name, args...).Output() }
	}
	if o.Containers == nil {
		o.Containers = launch.Engine.Leftovers
	}
	if o.Run == nil {
		o.Run = func(name string, args ...string) error {
			cmd := exec.Command(name, args...)
			cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
			return cmd.Run()
		}
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
}

// Run checks the host.
func Run(o Options) Report {
	o.fill()
	var r Report
	r.Checks = append(r.Checks, capChecks(o, &r)...)
	r.Checks = append(r.Checks, scaleCheck(), networkCheck(o), k6Check(o), containerCheck(o), chromiumCheck(o), pythonCheck(o))
	r.Checks = append(r.Checks, heapChecks(o)...)
	return r
}

// heapChecks say which runtimes heap: auto reaches on this host, each by
// asking the runtime itself for the mechanism it would use.
func heapChecks(o Options) []Check {
	var out []Check
	for _, rt := range []struct{ name, bin, probe, mechanism, fix string }{
		{"heap: auto (CPython)", "python3", "import tracemalloc, sysconfig", "tracemalloc, through a sitecustomize on PYTHONPATH", "bash scripts/install-deps.sh (python3)"},
		{"heap: auto (Ruby)", "ruby", "require 'objspace'; ObjectSpace.trace_object_allocations_start; Process.respond_to?(:_fork) or exit 1", "ObjectSpace allocation tracing, through RUBYOPT -r (forked workers: Process._fork, Ruby 3.1+)", "bash scripts/install-deps.sh (ruby)"},
		{"heap: auto (Node)", "node", "require('inspector'); if (!process.execArgv) process.exit(1)", "the inspector on a loopback port (NODE_OPTIONS --inspect) and V8 heap snapshots", "install Node 20 (Debian's nodejs)"},
	} {
		path, err := o.LookPath(rt.bin)
		if err != nil {
			out = append(out, Check{Name: rt.name, Status: Missing, Detail: rt.bin + " not on PATH", Fix: rt.fix})
			continue
		}
		flag := "-c"
		if rt.bin == "ruby" || rt.bin == "node" {
			flag = "-e"
		}
		if err := o.Run(path, flag, rt.probe); err != nil {
			out = append(out, Check{Name: rt.name, Status: Weak, Detail: rt.bin + " cannot use " + rt.mechanism + ": " + err.Error()})
			continue
		}
		out = append(out, Check{Name: rt.name, Status: OK, Detail: rt.mechanism})
	}
	switch _, err := heaphook.FindHeaptrackWith(o.LookPath); {
	case err == nil:
		out = append(out, Check{Name: "heap: auto (native)", Status: OK, Detail: "heaptrack, preloaded (LD_PRELOAD) into a C, C++ or Rust server's main process (Go: serve net/http/pprof, heap: pprof)"})
	default:
		out = append(out, Check{Name: "heap: auto (native)", Status: Missing, Detail: "C, C++ and Rust servers give no heap top: " + err.Error(), Fix: "bash scripts/install-deps.sh (heaptrack)"})
	}
	return out
}

// scaleCheck says the largest level this host holds: open files (after
// raising the soft limit, as a run does) and ephemeral ports per source
// address.
func scaleCheck() Check {
	h := load.RaiseFileLimit(1 << 20)
	return Check{Name: "largest level", Status: Info,
		Detail: fmt.Sprintf("%d concurrent clients to a loopback target (open files %d; ephemeral ports %d per source address, connections spread over 127.0.0.0/8 past that)", h.Largest(), h.Files, h.Ports)}
}

// capChecks makes one capped cgroup the way a run would, reads it back and
// removes it.
func capChecks(o Options, r *Report) []Check {
	cg := o.Cgroups.Prepare()
	defer cg.Close()
	version := o.Cgroups.Version()
	out := []Check{{Name: "cgroup", Status: Info, Detail: "memory controller: " + version}}
	if !cg.Available() {
		out = append(out, Check{Name: "memory cap", Status: Weak,
			Detail: "WATCHDOG ONLY: " + cg.Why() + ". A run kills a target when a sample reaches memory.limit, so a peak can overshoot it by what grows within one sample interval",
			Fix:    capFix(o)})
		return out
	}
	probe, err := cg.New("doctor", 64<<20)
	if err != nil {
		out = append(out, Check{Name: "memory cap", Status: Weak, Detail: "WATCHDOG ONLY: " + err.Error(), Fix: capFix(o)})
		return out
	}
	defer probe.Remove()
	if probe.Scope != "" {
		// A scope's cgroup exists only while something runs in it.
		stop, err := runInScope(probe)
		if err != nil {
			out = append(out, Check{Name: "memory cap", Status: Weak, Detail: "WATCHDOG ONLY: " + err.Error(), Fix: capFix(o)})
			return out
		}
		defer stop()
	}
	r.Cap = true
	out = append(out, Check{Name: "memory cap", Status: OK, Detail: fmt.Sprintf("a capped cgroup per target (%s; made and removed %s)", cg.Mode(), filepath.Base(probe.Dir))})
	if _, err := probe.Peak(); err != nil {
		out = append(out, Check{Name: "kernel peak", Status: Weak,
			Detail: "the cgroup's peak cannot be read (" + err.Error() + "): multi-process peaks are sampled",
			Fix:    "memory.peak needs Linux 5.19 or newer"})
	} else {
		r.KernelPeak = true
		file := "memory.max_usage_in_bytes"
		if probe.V2 {
			file = "memory.peak"
		}
		out = append(out, Check{Name: "kernel peak", Status: OK, Detail: "the cgroup's peak charge is read from the kernel (" + file + ")"})
	}
	out = append(out, swapCheck(o, probe))
	for _, p := range cg.Stale() {
		out = append(out, Check{Name: "stale cgroup", Status: Info, Detail: "removed " + p + ", left by a harness that is no longer running"})
	}
	return out
}

// runInScope starts a short sleep in the probe's systemd scope and waits
// until the scope's cgroup is there to read.
func runInScope(probe *cgroup.Group) (stop func(), err error) {
	argv := probe.Wrap([]string{"sleep", "10"})
	cmd := pgroup.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop = func() {
		pgroup.Signal(cmd, syscall.SIGKILL)
		<-done
	}
	if err := probe.Attach(cmd.Process.Pid, done); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

func capFix(o Options) string {
	switch {
	case os.Geteuid() != 0 && o.Cgroups.Version() == "v2":
		return "run as root, or from a delegated cgroup: systemd-run --user --scope -p Delegate=yes harness run …"
	case o.Cgroups.Version() == "none":
		return "mount cgroup v2 with the memory controller (or a v1 memory hierarchy)"
	}
	return "run as root in a cgroup with the memory controller"
}

func swapCheck(o Options, probe *cgroup.Group) Check {
	swaps, _ := o.ReadFile("/proc/swaps")
	active := len(strings.Split(strings.TrimSpace(string(swaps)), "\n")) > 1
	file := "memory.memsw.limit_in_bytes"
	if probe.V2 {
		file = "memory.swap.max"
	}
	_, err := os.Stat(filepath.Join(probe.Dir, file))
	switch {
	case err == nil:
		return Check{Name: "swap", Status: OK, Detail: "swap is capped with memory (" + file + ")"}
	case !active:
		return Check{Name: "swap", Status: OK, Detail: "no swap accounting, and no swap active: the cap is the memory cap"}
	}
	return Check{Name: "swap", Status: Weak, Detail: "swap is active but not accounted (no " + file + "): a target may swap past the cap instead of being killed",
		Fix: "boot with swapaccount=1 (v1) or turn swap off while measuring (swapoff -a)"}
}

// networkCheck reports the largest receive buffer a socket may ask for:
// client.recv_buffer above it is clamped by the kernel.
func networkCheck(o Options) Check {
	b, err := o.ReadFile("/proc/sys/net/ipv4/tcp_rmem")
	f := strings.Fields(string(b))
	if err != nil || len(f) != 3 {
		return Check{Name: "loopback buffers", Status: Info, Detail: "tcp_rmem unreadable"}
	}
	max, _ := strconv.ParseInt(f[2], 10, 64)
	return Check{Name: "loopback buffers", Status: Info, Detail: fmt.Sprintf("tcp_rmem max %d KiB: the kernel can hold that much of each response in flight; client.recv_buffer makes it smaller, as a slow network would", max>>10)}
}

func k6Check(o Options) Check {
	if bin := filepath.Join(o.Dir, "bin", "k6"); fileExists(bin) {
		// k6 lists its extensions: the JS module (memory metrics) and the
		// output (several instances merged) must both be there.
		out, err := o.Output(bin, "version")
		v := string(out)
		if err != nil || !strings.Contains(v, "k6/x/flood [js]") || !strings.Contains(v, "flood [output]") {
			return Check{Name: "k6", Status: Weak, Detail: "bin/k6 lacks the k6/x/flood module or the flood output (built before them?): driver k6 with several instances needs both", Fix: "make k6"}
		}
		return Check{Name: "k6", Status: OK, Detail: "bin/k6 (with the k6/x/flood module and the flood output)"}
	}
	if p, err := o.LookPath("k6"); err == nil {
		return Check{Name: "k6", Status: OK, Detail: p + " (without k6/x/flood unless built with it)", Fix: "make k6 builds bin/k6 with the extension"}
	}
	return Check{Name: "k6", Status: Missing, Detail: "for driver: k6", Fix: "make k6"}
}

func containerCheck(o Options) Check {
	var found []string
	for _, e := range []string{"podman", "docker"} {
		if p, err := o.LookPath(e); err == nil {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return Check{Name: "containers", Status: Missing, Detail: "neither podman nor docker on PATH (for container: targets)", Fix: "bash scripts/install-deps.sh podman runc"}
	}
	// An engine is ok only when it answers: docker on PATH without a
	// daemon it can reach runs nothing.
	c := Check{Name: "containers", Status: OK}
	var works, broken, left []string
	for _, p := range found {
		names, orphaned, err := o.Containers(launch.Engine{Name: filepath.Base(p), Program: p})
		if err != nil {
			broken = append(broken, fmt.Sprintf("%s does not work here: %v", filepath.Base(p), fault.FirstLine(err.Error())))
			continue
		}
		works = append(works, p)
		for i, n := range names {
			if orphaned[i] {
				left = append(left, n)
			}
		}
	}
	switch len(works) {
	case 0:
		c.Status, c.Fix = Missing, "start the engine's daemon (docker) or bash scripts/install-deps.sh podman runc"
		c.Detail = "no engine works (for container: targets)"
	case 1:
		c.Detail = fmt.Sprintf("%s works (engine: %s)", works[0], filepath.Base(works[0]))
	default:
		c.Detail = strings.Join(works, " and ") + " work"
	}
	if len(broken) > 0 {
		c.Detail += "; " + strings.Join(broken, "; ")
	}
	if len(left) > 0 {
		c.Status = Weak
		c.Detail += fmt.Sprintf("; %d container(s) left by harnesses that died: %s", len(left), strings.Join(left, ", "))
		c.Fix = "the next harness run with a container target removes them"
	}
	return c
}

func chromiumCheck(o Options) Check {
	for _, c := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := o.LookPath(c); err == nil {
			return Check{Name: "chromium", Status: OK, Detail: p + " (the report's screenshot check)"}
		}
	}
	return Check{Name: "chromium", Status: Missing, Detail: "for make report-check", Fix: "bash scripts/install-deps.sh"}
}

// pythonCheck asks the interpreter the seed servers run under (gunicorn's
// own, from its #! line: not necessarily the python3 first on PATH) for
// their packages.
func pythonCheck(o Options) Check {
	missing := Check{Name: "python seeds", Status: Missing, Fix: "bash scripts/install-deps.sh",
		Detail: "the Python seed servers need gunicorn, uvicorn, flask, simplejson and starlette"}
	gunicorn, err := o.LookPath("gunicorn")
	if err != nil {
		return missing
	}
	if _, err := o.LookPath("uvicorn"); err != nil {
		return missing
	}
	python := "python3"
	if b, err := o.ReadFile(gunicorn); err == nil {
		if line, _, _ := strings.Cut(string(b), "\n"); strings.HasPrefix(line, "#!") {
			if f := strings.Fields(strings.TrimPrefix(line, "#!")); len(f) == 1 {
				python = f[0]
			}
		}
	}
	if err := o.Run(python, "-c", "import flask, simplejson, starlette, uvicorn"); err != nil {
		missing.Detail += " (" + python + " cannot import them)"
		return missing
	}
	return Check{Name: "python seeds", Status: OK, Detail: "gunicorn and uvicorn under " + python + ", with flask, simplejson, starlette"}
}

// Write prints the report, one check per line, fixes indented below.
func (r Report) Write(w io.Writer) error {
	width := 0 // the names' column: the longest name's
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		if _, err := fmt.Fprintf(w, "%-8s %-*s %s\n", c.Status, width, c.Name, c.Detail); err != nil {
			return err
		}
		if c.Fix != "" && c.Status != OK && c.Status != Info {
			fmt.Fprintf(w, "%-8s %-*s fix: %s\n", "", width, "", c.Fix)
		}
	}
	verdict := "a kernel memory cap and a kernel peak work here"
	if !r.Cap || !r.KernelPeak {
		verdict = "NO kernel cap here: memory.limit is enforced by the watchdog"
		if r.Cap {
			verdict = "a kernel cap works here, but peaks of process trees are sampled"
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", verdict)
	return err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
