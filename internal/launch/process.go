package launch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/proc"
	"github.com/floodharness/harness/internal/result"
)

// Spec describes how to start one target process.
type Spec struct {
	// Name is the target's name; with Label it names the log file.
	Name  string
	Label string // e.g. "c16-r0"
	// Command is the argv; "{port}" is replaced in every argument. The
	// program is run as given (a path, or looked up in PATH).
	Command []string
	// Env adds variables to the inherited environment ("{port}" replaced).
	Env map[string]string
	// Host the target listens on.
	Host string
	// Port, when set, is used instead of a free one (a restart keeps the
	// address clients know).
	Port int
	// Health is polled until 200, for at most HealthTimeout; HealthKey
	// names where it is set, for the hint when it answers something else
	// (default "health").
	Health        string
	HealthTimeout time.Duration
	HealthKey     string
	// TLS, when set, means the target serves HTTPS: its URLs say https and
	// the harness's own requests (health, heap) use this configuration.
	TLS *tls.Config
	// LogDir receives <Name>-<Label>.log with the target's stdout and stderr.
	LogDir string
	// MemoryLimit, when positive, caps the target in its cgroup. Every
	// target gets a cgroup of its own when Cgroups can make one, capped or
	// not, so that what is measured and stopped is exactly its processes
	// (children started later, daemons that left its process group).
	MemoryLimit int64
	// Cgroups is where cgroups are made (SystemCgroups().Prepare()
	// normally); nil: nowhere.
	Cgroups *Cgroups
	// StopGrace is how long SIGTERM has before SIGKILL (default 5s).
	StopGrace time.Duration
	// Attached, when set, names the running server Attach attached to.
	Attached *AttachSpec
	// Container, when set, runs the target from an image instead of
	// Command: its cgroup is made below the target's (capped) one, so the
	// kernel's peak and OOM kills outlive the container.
	Container *ContainerSpec
}

// Exit is how a target process ended: the exit status a run records, and
// what the kernel said of its memory at the end.
type Exit struct {
	result.Exit
	// MaxRSS is ru_maxrss of the reaped process, in bytes: the kernel's
	// peak RSS of the process itself, or 0 when it cannot be told apart
	// from the harness's own. Go starts a process the way vfork does (the
	// child shares the harness's memory until it execs), and the kernel
	// charges the high-water mark of that shared memory to the child's
	// ru_maxrss at exec: a small server started by a 25 MiB harness reads
	// 25 MiB there.
	MaxRSS int64
	// Stopped is true when the harness sent the signal that ended it.
	Stopped bool
	// CgroupPeak and OOMKills are read from the target's cgroup, if any,
	// before it is removed.
	CgroupPeak int64
	OOMKills   int64
	// EngineOOMKilled is the container engine's own OOMKilled flag: a hint
	// (podman 4.3's inspect says false for containers the kernel killed; its
	// conmon's mark in the working directory is read too).
	EngineOOMKilled bool
}

// OOMKilled is the verdict: the kernel's OOM killer fired in the target's
// cgroup, or the target died of SIGKILL that the harness did not send.
func (e Exit) OOMKilled() bool {
	return e.OOMKills > 0 || (e.Signal == "SIGKILL" && !e.Stopped) || e.EngineOOMKilled
}

// Process is a started, healthy target.
type Process struct {
	spec    Spec
	cmd     *exec.Cmd
	Port    int
	Addr    string // host:port
	LogPath string
	Cgroup  *Cgroup // nil without a memory cap or cgroup support
	// CgroupErr says why a capped target has no cgroup.
	CgroupErr error
	log       *os.File
	container string // the container's name, for a container target
	engineDir string // the engine's working directory (conmon leaves its "oom" mark there)
	mainPID   int    // the container's first process, for a container target; the attached process
	// attached: the harness did not start this server and stops nothing
	// of it (Attach).
	attached  bool
	watchStop chan struct{} // ends watchAlive
	oomBase   int64         // the cgroup's OOM kills when attached
	// Reset says how the kernel's peak was reset before this level, for an
	// attached target ("" for one the harness started fresh).
	Reset PeakReset
	// launcherHWM is the harness's own peak RSS just after the start: the
	// most the child's ru_maxrss can have inherited from it.
	launcherHWM int64
	done        chan struct{}
	waitErr     error

	mu        sync.Mutex
	stopped   bool
	attachEnd *Exit // how an attached level ended, read once
}

// StartError is a target that could not be started or never became
// healthy.
type StartError struct {
	Name string
	Err  error
	Tail string // the end of the target's log
}

func (e *StartError) Error() string {
	msg := fmt.Sprintf("start target %q: %v", e.Name, e.Err)
	if e.Tail != "" {
		msg += "\n--- last lines of its log ---\n" + e.Tail
	}
	return msg
}

func (e *StartError) Unwrap() error { return e.Err }

// FaultKind makes a failed start a failed run. The sweep records it and
// goes on; main sees it only through sweep.FailedError.
func (e *StartError) FaultKind() fault.Kind { return fault.RunFailed }

// Start launches spec's command and waits until it is healthy.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if spec.StopGrace <= 0 {
		spec.StopGrace = 5 * time.Second
	}
	if spec.HealthKey == "" {
		spec.HealthKey = "health"
	}
	port := spec.Port
	if port == 0 {
		var err error
		if port, err = freePort(spec.Host); err != nil {
			return nil, &StartError{Name: spec.Name, Err: err}
		}
	}
	p := &Process{spec: spec, Port: port, Addr: net.JoinHostPort(spec.Host, strconv.Itoa(port)), done: make(chan struct{})}
	if err := p.launch(); err != nil {
		p.cleanup()
		return nil, &StartError{Name: spec.Name, Err: err, Tail: p.LogTail(2048)}
	}
	if err := p.waitHealthy(ctx); err != nil {
		_, _ = p.Stop()
		return nil, &StartError{Name: spec.Name, Err: err, Tail: p.LogTail(2048)}
	}
	if c := spec.Container; c != nil {
		pid, err := c.Engine.initPID(p.container)
		if err != nil {
			_, _ = p.Stop()
			return nil, &StartError{Name: spec.Name, Err: err}
		}
		p.mainPID = pid
	}
	if err := p.ownsPort(); err != nil {
		_, _ = p.Stop()
		return nil, &StartError{Name: spec.Name, Err: err}
	}
	return p, nil
}

func (p *Process) launch() error {
	s := p.spec
	portStr := strconv.Itoa(p.Port)
	argv := make([]string, len(s.Command))
	for i, a := range s.Command {
		argv[i] = strings.ReplaceAll(a, "{port}", portStr)
	}
	var err error
	p.LogPath = fmt.Sprintf("%s/%s-%s.log", s.LogDir, s.Name, s.Label)
	if p.log, err = os.Create(p.LogPath); err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	if s.Cgroups.Available() || s.MemoryLimit > 0 || s.Container != nil {
		if p.Cgroup, p.CgroupErr = s.Cgroups.New(s.Name+"-"+s.Label, s.MemoryLimit); p.CgroupErr != nil {
			p.Cgroup = nil // the caller falls back to a watchdog
		}
	}
	var env []string
	for k, v := range s.Env {
		env = append(env, k+"="+strings.ReplaceAll(v, "{port}", portStr))
	}
	switch {
	case s.Container != nil && p.Cgroup == nil:
		// Without one the harness would measure the engine's program.
		return fmt.Errorf("a container target is measured in a cgroup the harness makes for it, and none can be made here (harness doctor says why): %v", p.CgroupErr)
	case s.Container != nil && p.Cgroup.Scope != "":
		// A scope is systemd's, made when its first process starts: it
		// cannot be the container's parent beforehand.
		return errors.New("a container target needs a cgroup the harness makes itself (as root, or in a delegated cgroup); a systemd scope per target cannot hold a container")
	case s.Container != nil:
		// The engine makes the container's cgroup below the target's.
		p.container = fmt.Sprintf("%s%d-%d-%s-%s", prefix, os.Getpid(), containerSeq.Add(1), s.Name, s.Label)
		argv = append([]string{s.Container.Engine.Program}, s.Container.runArgs(p.container, s.Host, p.Port, s.MemoryLimit, p.Cgroup.Path(), env)...)
		env = nil
	case p.Cgroup != nil:
		// The shell below would report a missing program as its own failure.
		if _, err := exec.LookPath(argv[0]); err != nil {
			return fmt.Errorf("run %q: %w", argv[0], err)
		}
		argv = p.Cgroup.Wrap(argv)
	}
	cmd := Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if p.container != "" {
		// podman 4.3's conmon writes its OOM mark ("oom") into the working
		// directory, not where podman inspect looks: keep it out of the
		// user's directory, and read it.
		if p.engineDir, err = os.MkdirTemp("", p.container+"-"); err != nil {
			return err
		}
		cmd.Dir = p.engineDir
	}
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %q: %w", argv[0], err)
	}
	if st, err := proc.ReadStatus(os.Getpid()); err == nil {
		p.launcherHWM = st.HWM
	}
	p.cmd = cmd
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if p.Cgroup != nil {
		if err := p.Cgroup.Attach(cmd.Process.Pid, p.done); err != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
			return err
		}
	}
	return nil
}

// Command prepares a process the harness starts: in its own process group,
// so stopping it reaches every child (kill -PGID), and sent SIGKILL by the
// kernel if the harness dies without stopping it.
func Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// freePort asks the kernel for a free port on host. A host that is not an
// address here (a target started in another network namespace, whose
// command enters it) gets a port free on the loopback: ports are per
// namespace, and the start fails plainly if the target cannot bind it.
func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (p *Process) waitHealthy(ctx context.Context) error {
	url := p.URL(p.spec.Health)
	client := p.Client(time.Second)
	deadline := time.Now().Add(p.spec.HealthTimeout)
	// One answer other than 200 for this long means the path is wrong, not
	// that the server is still starting: say so now, not at the timeout.
	const settled = 3 * time.Second
	var status int
	var since time.Time
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			if resp.StatusCode != status {
				status, since = resp.StatusCode, time.Now()
			} else if time.Since(since) >= settled {
				hint := ""
				if status == http.StatusUnauthorized || status == http.StatusForbidden {
					hint = " (the server wants credentials there: give a health path it answers without them)"
				}
				return fmt.Errorf("GET %s → %d for %v; set %s to a path your server answers with 200%s", url, status, settled, p.spec.HealthKey, hint)
			}
		}
		select {
		case <-p.done:
			if p.attached {
				return fmt.Errorf("process %d is gone", p.mainPID)
			}
			return fmt.Errorf("exited before it was healthy (%s)", describeExit(p.cmd.ProcessState))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %v", url, p.spec.HealthTimeout)
		}
	}
}

// ownsPort makes sure the process answering on the target's port is the
// target: the free port was found by listening and closing, so another
// server could have taken it since, answered the health check, and be
// flooded in the target's place. Some process of the target (its cgroup,
// or its process group) must hold the listening socket.
func (p *Process) ownsPort() error {
	if c := p.spec.Container; c != nil {
		return c.Engine.publishes(p.container, c.Port, p.Addr)
	}
	if a := p.spec.Attached; a != nil && a.Container != "" {
		return a.Engine.publishes(a.Container, 0, p.Addr)
	}
	listeners, err := proc.Listeners(p.PID(), p.Port)
	if err != nil {
		return fmt.Errorf("check who listens on port %d: %w", p.Port, err)
	}
	// Its process group (a started target leads its own), or for an
	// attached one the process and its descendants (a process started in
	// the background of a script leads no group).
	members := append(proc.Group(p.PID()), p.PID())
	members = append(members, descendants(p.PID())...)
	if p.Cgroup != nil {
		if pids, err := readPIDs(p.Cgroup.ProcsFile()); err == nil {
			members = append(members, pids...)
		}
	}
	for _, pid := range members {
		held, err := proc.Sockets(pid)
		if err != nil {
			continue
		}
		for _, inode := range listeners {
			if held[inode] {
				return nil
			}
		}
	}
	return fmt.Errorf("%s answered the health check, but no process of the target holds a socket listening on port %d: another server may have taken the port; it is not flooded", p.Addr, p.Port)
}

// URL is the address of path on the target.
func (p *Process) URL(path string) string {
	if p.spec.TLS != nil {
		return "https://" + p.Addr + path
	}
	return "http://" + p.Addr + path
}

// TLS is how the target's certificate is checked (nil: plain HTTP).
func (p *Process) TLS() *tls.Config { return p.spec.TLS }

// Client is an HTTP client for the target's own endpoints (health, heap
// profiles): its TLS configuration where it serves HTTPS.
func (p *Process) Client(timeout time.Duration) *http.Client {
	c := &http.Client{Timeout: timeout}
	if p.spec.TLS != nil {
		c.Transport = &http.Transport{TLSClientConfig: p.spec.TLS}
	}
	return c
}

// PID is the target's process id (also its process group id); for a
// container, its first process (the engine's program is the harness's
// child, and its process group's leader).
func (p *Process) PID() int {
	if p.mainPID != 0 {
		return p.mainPID
	}
	return p.cmd.Process.Pid
}

// Done is closed when the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Kill sends SIGKILL to the target's process group now, as the memory
// watchdog does at the limit.
func (p *Process) Kill() {
	if p.attached {
		return // not the harness's to kill
	}
	p.mu.Lock()
	select {
	case <-p.done: // dead already: whatever ended it was not this
	default:
		p.stopped = true
	}
	p.mu.Unlock()
	if p.container != "" {
		_ = p.spec.Container.Engine.remove(p.container) // the container is no child of ours
	}
	p.signalGroup(syscall.SIGKILL)
}

func (p *Process) signalGroup(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// Stop ends the target: SIGTERM to its group, StopGrace to exit, then
// SIGKILL to the group. It reaps the process, removes its cgroup and
// reports how it ended. Safe to call more than once.
func (p *Process) Stop() (Exit, error) {
	if p.attached {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.attachEnd == nil {
			ex := p.attachedExit()
			p.attachEnd = &ex
		}
		return *p.attachEnd, nil
	}
	if p.cmd != nil {
		p.mu.Lock()
		select {
		case <-p.done:
		default:
			p.stopped = true
		}
		p.mu.Unlock()
		p.signalGroup(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(p.spec.StopGrace):
			p.signalGroup(syscall.SIGKILL)
			<-p.done
		}
		// Children that outlived the leader are still in the group.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	ex := p.exit()
	if p.container != "" {
		ex = p.containerExit(ex)
	}
	if p.Cgroup != nil {
		ex.CgroupPeak, _ = p.Cgroup.Peak()
		ex.OOMKills, _ = p.Cgroup.OOMKills()
	}
	return ex, p.cleanup()
}

func (p *Process) exit() Exit {
	if p.cmd == nil || p.cmd.ProcessState == nil {
		return Exit{}
	}
	st := p.cmd.ProcessState
	p.mu.Lock()
	ex := Exit{Exit: result.Exit{Code: st.ExitCode()}, Stopped: p.stopped}
	p.mu.Unlock()
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		ex.Signal = signalName(ws.Signal())
	}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok && ru.Maxrss<<10 > p.launcherHWM {
		ex.MaxRSS = ru.Maxrss << 10 // KiB on Linux
	}
	return ex
}

// signalName names a signal as people write it: SIGKILL, SIGTERM.
func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGABRT:
		return "SIGABRT"
	}
	return s.String()
}

func describeExit(st *os.ProcessState) string {
	if st == nil {
		return "no exit status"
	}
	return st.String()
}

func (p *Process) cleanup() error {
	var errs []error
	if p.container != "" {
		errs = append(errs, p.spec.Container.Engine.remove(p.container))
	}
	if p.engineDir != "" {
		errs = append(errs, os.RemoveAll(p.engineDir))
		p.engineDir = ""
	}
	if p.Cgroup != nil {
		errs = append(errs, p.Cgroup.Remove())
	}
	if p.log != nil {
		errs = append(errs, p.log.Close())
		p.log = nil
	}
	return errors.Join(errs...)
}

// LogTail returns up to n bytes from the end of the target's log.
func (p *Process) LogTail(n int64) string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}

// containerSeq numbers containers: names never repeat within a harness.
var containerSeq atomic.Int64

// containerExit is how a container target ended, from the engine: its exit
// code (128+n for a signal, as engines report it) and OOMKilled flag. The
// engine's program, not the server, was the harness's child: its rusage
// says nothing of the server.
func (p *Process) containerExit(ex Exit) Exit {
	st, err := p.spec.Container.Engine.inspect(p.container)
	if err == nil {
		ex.Code, ex.EngineOOMKilled = st.ExitCode, st.OOMKilled
	}
	if _, err := os.Stat(filepath.Join(p.engineDir, "oom")); err == nil {
		ex.EngineOOMKilled = true // conmon saw the kernel's OOM kill
	}
	ex.MaxRSS = 0
	if ex.Signal == "" && ex.Code > 128 && ex.Code < 128+32 {
		ex.Signal = signalName(syscall.Signal(ex.Code - 128))
	}
	return ex
}
