package launch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/proc"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/sample"
)

// ContainerSpec is a target run from an image by a container engine
// (podman or docker) instead of a command the harness execs.
type ContainerSpec struct {
	Engine Engine
	Image  string
	// Command replaces the image's CMD; nil keeps it.
	Command []string
	// Port is where the server listens inside the container; it is
	// published on the target's host and port (127.0.0.1 only).
	Port int
	// Run names the harness run in the container's labels.
	Run string
}

// Engine is a container engine's command-line program.
type Engine struct {
	Name    string // "podman" or "docker"
	Program string // its path
}

// container is a target an engine runs from an image. The engine's
// program is the harness's child (a started process, run in the
// foreground); the server is the container's first process, in a cgroup
// the engine makes below the target's, and is measured as that cgroup's
// charge, which is what the container's memory limit counts.
type container struct {
	started
	spec      ContainerSpec
	name      string // the container's name
	engineDir string // the engine's working directory (conmon leaves its "oom" mark there)
	initPID   int    // the container's first process
}

func (k *container) up(p *Process) error {
	if err := p.openLog(); err != nil {
		return err
	}
	switch {
	case p.Cgroup == nil:
		// Without one the harness would measure the engine's program.
		return fmt.Errorf("a container target is measured in a cgroup the harness makes for it, and none can be made here (harness doctor says why): %v", p.CgroupErr)
	case p.Cgroup.Scope != "":
		// A scope is systemd's, made when its first process starts: it
		// cannot be the container's parent beforehand.
		return errors.New("a container target needs a cgroup the harness makes itself (as root, or in a delegated cgroup); a systemd scope per target cannot hold a container")
	}
	s := p.spec
	_, env := p.argv()
	// The engine makes the container's cgroup below the target's.
	k.name = fmt.Sprintf("%s%d-%d-%s-%s", cgroup.Prefix, os.Getpid(), containerSeq.Add(1), s.Name, s.Label)
	argv := append([]string{k.spec.Engine.Program}, k.spec.runArgs(k.name, s.Host, p.Port, s.MemoryLimit, p.Cgroup.Path(), env)...)
	// podman 4.3's conmon writes its OOM mark ("oom") into the working
	// directory, not where podman inspect looks: keep it out of the user's
	// directory, and read it.
	var err error
	if k.engineDir, err = os.MkdirTemp("", k.name+"-"); err != nil {
		return err
	}
	return k.run(p, argv, nil, k.engineDir)
}

func (k *container) ready(p *Process) error {
	pid, err := k.spec.Engine.initPID(k.name)
	if err != nil {
		return err
	}
	k.initPID = pid
	return k.spec.Engine.publishes(k.name, k.spec.Port, p.Addr)
}

func (k *container) pid(p *Process) int {
	if k.initPID != 0 {
		return k.initPID
	}
	return k.started.pid(p)
}

func (k *container) kill(p *Process) {
	k.markStopped(p)
	_ = k.spec.Engine.remove(k.name) // the container is no child of ours
	k.signalGroup(p, syscall.SIGKILL)
}

// end: the engine says how the container ended — its exit code (128+n for
// a signal, as engines report it) and OOMKilled flag. The engine's
// program, not the server, was the harness's child: its rusage says
// nothing of the server.
func (k *container) end(p *Process) Exit {
	ex := k.started.end(p)
	st, err := k.spec.Engine.inspect(k.name)
	if err == nil {
		ex.Code, ex.EngineOOMKilled = st.ExitCode, st.OOMKilled
	}
	if _, err := os.Stat(filepath.Join(k.engineDir, "oom")); err == nil {
		ex.EngineOOMKilled = true // conmon saw the kernel's OOM kill
	}
	ex.MaxRSS = 0
	if ex.Signal == "" && ex.Code > 128 && ex.Code < 128+32 {
		ex.Signal = signalName(syscall.Signal(ex.Code - 128))
	}
	return ex
}

func (k *container) cleanup(*Process) error {
	var errs []error
	if k.name != "" {
		errs = append(errs, k.spec.Engine.remove(k.name))
	}
	if k.engineDir != "" {
		errs = append(errs, os.RemoveAll(k.engineDir))
		k.engineDir = ""
	}
	return errors.Join(errs...)
}

func (k *container) byCgroup(*Process) bool { return true }

// lingers: an engine's published port keeps accepting with nothing behind it.
func (k *container) lingers() bool { return true }

// peak: the cgroup's peak charge, read from the kernel at the end (the
// container's own cgroup sits below the target's, which outlives it).
func (k *container) peak(_ *Process, sum sample.Summary, ex Exit) (int64, result.PeakSource) {
	if ex.CgroupPeak > 0 {
		return ex.CgroupPeak, result.PeakCgroup
	}
	return processPeak(sum, ex)
}

func (k *container) describe(_ *Process, run *result.Run, ex Exit) {
	run.Container = &result.Container{Engine: k.spec.Engine.Name, Image: k.spec.Image, EngineOOMKilled: ex.EngineOOMKilled}
}

// containerSeq numbers containers: names never repeat within a harness.
var containerSeq atomic.Int64

// The labels every container the harness starts carries: Label marks it
// as the harness's, OwnerLabel holds the PID of the harness that started
// it (a later harness removes it once that PID is gone), RunLabel the run.
const (
	Label      = "flood-harness"
	OwnerLabel = "flood-harness.owner-pid"
	RunLabel   = "flood-harness.run"
)

// FindEngine finds the named engine on PATH, or with name "" podman, else
// docker.
func FindEngine(name string) (Engine, error) {
	names := []string{name}
	if name == "" {
		names = []string{"podman", "docker"}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return Engine{Name: n, Program: p}, nil
		}
	}
	return Engine{}, fmt.Errorf("container engine %s is not on PATH (scripts/install-deps.sh podman installs podman)", strings.Join(names, " or "))
}

// command runs the engine with args, bounded in time, and returns its
// trimmed stdout (stderr in the error).
func (e Engine) command(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Program, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", e.Name, args[0], err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// runArgs is the engine command line that runs the container in the
// foreground (so the harness's child lives exactly as long as the
// container, its output is the container's log, and SIGTERM to it reaches
// the container): published on host:port only, capped at limit with swap
// off, under parent (a cgroup path; "" for the engine's own), with the
// open-file and process limits of this host (an engine's defaults can
// exceed the hard limits a non-initial namespace may set).
func (c ContainerSpec) runArgs(name, host string, port int, limit int64, parent string, env []string) []string {
	args := []string{"run", "--name", name,
		"--label", Label + "=1",
		"--label", OwnerLabel + "=" + strconv.Itoa(os.Getpid()),
		"--label", RunLabel + "=" + c.Run,
		"--publish", fmt.Sprintf("%s:%d:%d", bracket(host), port, c.Port),
	}
	if c.Engine.Name == "podman" {
		// conmon, podman's monitor, stays out of the target's cgroup; it
		// is the engine's memory, not the server's.
		args = append([]string{"--runtime", runtime()}, args...)
		args = append(args, "--cgroups", "no-conmon")
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		args = append(args, "--ulimit", fmt.Sprintf("nofile=%d:%d", lim.Max, lim.Max))
	}
	if nproc, ok := hardNproc(); ok {
		args = append(args, "--ulimit", fmt.Sprintf("nproc=%d:%d", nproc, nproc))
	}
	if limit > 0 {
		args = append(args, "--memory", strconv.FormatInt(limit, 10), "--memory-swap", strconv.FormatInt(limit, 10))
	}
	if parent != "" {
		args = append(args, "--cgroup-parent", parent)
	}
	for _, kv := range env {
		args = append(args, "--env", kv)
	}
	args = append(args, c.Image)
	return append(args, c.Command...)
}

// runtime is the OCI runtime podman is asked for: runc where installed
// (crun refuses hybrid cgroup v1 layouts), else podman's default.
func runtime() string {
	if p, err := exec.LookPath("runc"); err == nil {
		return p
	}
	return "crun"
}

// hardNproc is this process's hard RLIMIT_NPROC, at most the kernel's
// pid_max: no more processes than that can exist, and the engine's runtime
// may run with a hard limit of pid_max (measured here: podman's runc
// refused nproc=65536 with pid_max 32768 while this shell's hard limit was
// 96365).
func hardNproc() (uint64, bool) {
	const rlimitNproc = 6 // RLIMIT_NPROC on Linux
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(rlimitNproc, &lim); err != nil {
		return 0, false
	}
	n := lim.Max
	if max, err := proc.SysctlUint("kernel.pid_max"); err == nil && max < n {
		n = max
	}
	return n, n != ^uint64(0)
}

func bracket(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// containerState is what the engine says of a container that ended.
type containerState struct {
	OOMKilled bool
	ExitCode  int
}

// inspect reads the container's end state; the engine's OOMKilled is a
// hint only (podman 4.3 said false for a container the kernel killed at
// its cap: the cgroup's own counters decide).
func (e Engine) inspect(name string) (containerState, error) {
	out, err := e.command(10*time.Second, "inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", name)
	if err != nil {
		return containerState{}, err
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return containerState{}, fmt.Errorf("%s inspect: unexpected %q", e.Name, out)
	}
	code, _ := strconv.Atoi(f[1])
	return containerState{OOMKilled: f[0] == "true", ExitCode: code}, nil
}

// initPID is the host PID of the container's first process.
func (e Engine) initPID(name string) (int, error) {
	out, err := e.command(10*time.Second, "inspect", "--format", "{{.State.Pid}}", name)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(out)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s inspect %s: no running process (State.Pid %q)", e.Name, name, out)
	}
	return pid, nil
}

// remove kills and removes the container, whatever its state.
func (e Engine) remove(name string) error {
	_, err := e.command(30*time.Second, "rm", "--force", name)
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "no such container") {
		return nil
	}
	return err
}

// publishes reports whether the container publishes its port on addr
// (host:port): the engine's port forwarder, not the container, holds the
// listening socket, so this stands in for the check that the target owns
// its port.
// With port 0 any of its published ports may be addr.
func (e Engine) publishes(name string, port int, addr string) error {
	args := []string{"port", name}
	if port != 0 {
		args = append(args, fmt.Sprintf("%d/tcp", port))
	}
	out, err := e.command(10*time.Second, args...)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		// "127.0.0.1:PORT", or with every port "8080/tcp -> 127.0.0.1:PORT"
		if _, mapped, ok := strings.Cut(line, "->"); ok {
			line = mapped
		}
		if strings.TrimSpace(line) == addr {
			return nil
		}
	}
	return fmt.Errorf("%s does not publish port %d on %s (it says %q): another server may have taken the port; it is not flooded", name, port, addr, out)
}

// Leftovers lists the containers a harness started (by label), with
// whether the harness that started them is gone.
func (e Engine) Leftovers() (names []string, orphaned []bool, err error) {
	out, err := e.command(30*time.Second, "ps", "--all", "--filter", "label="+Label, "--format", "{{.Names}}")
	if err != nil {
		return nil, nil, err
	}
	for _, n := range strings.Fields(out) {
		owner, gone := cgroup.LeftBy(n)
		names = append(names, n)
		orphaned = append(orphaned, owner == 0 || gone)
	}
	return names, orphaned, nil
}

// RemoveStale removes the containers that harnesses which are no longer
// running left behind (a container is no child of the harness: the
// kernel's parent-death signal never reaches it), and returns their names.
func (e Engine) RemoveStale() ([]string, error) {
	names, orphaned, err := e.Leftovers()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	// The engine's working directories of those containers (see launch).
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), cgroup.Prefix+"*"))
	for _, d := range dirs {
		if owner, gone := cgroup.LeftBy(filepath.Base(d)); owner != 0 && gone {
			errs = append(errs, os.RemoveAll(d))
		}
	}
	for i, n := range names {
		if !orphaned[i] {
			continue
		}
		if err := e.remove(n); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, n)
	}
	return removed, errors.Join(errs...)
}
