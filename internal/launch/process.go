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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/proc"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/sample"
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
	// Cgroups is where cgroups are made (cgroup.System().Prepare()
	// normally); nil: nowhere.
	Cgroups *cgroup.Maker
	// StopGrace is how long SIGTERM has before SIGKILL (default 5s).
	StopGrace time.Duration
	// Attached, when set, names a running server to measure instead of
	// starting one: the harness neither starts nor stops it.
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

// Process is a healthy target of one of three kinds — started (a command
// the harness runs), container (an image an engine runs) or attached (a
// server someone else runs) — each a type implementing kind. Process holds
// what they share (address, cgroup, log) and asks its kind for the rest;
// no package but this one knows which kind a target is.
type Process struct {
	spec    Spec
	kind    kind
	Port    int
	Addr    string // host:port
	LogPath string
	Cgroup  *cgroup.Group // nil without a memory cap or cgroup support
	// CgroupErr says why a capped target has no cgroup.
	CgroupErr error
	// HealthStatus is the status its health check answered (any 2xx).
	HealthStatus int
	log          *os.File
	// Reset says how the kernel's peak was reset before this level, for an
	// attached target ("" for one the harness started fresh).
	Reset PeakReset
	done  chan struct{}

	stopOnce sync.Once
	exit     Exit
	stopErr  error
}

// kind is what one kind of target does its own way.
type kind interface {
	// up brings the target to where it can answer its health check: a
	// started or container target runs its program, an attached one finds
	// its process.
	up(p *Process) error
	// ready is checked once it is healthy: the process answering is the
	// target (it holds the listening socket, or the engine publishes it).
	ready(p *Process) error
	// pid is its main process.
	pid(p *Process) int
	// gone says how it ended before it was healthy.
	gone(p *Process) string
	kill(p *Process)
	// end stops what the harness owns of it and says how it ended.
	end(p *Process) Exit
	cleanup(p *Process) error
	// byCgroup: the target is measured as its cgroup's charge (what a
	// container's limit counts), not as its processes' memory.
	byCgroup(p *Process) bool
	// peak is a run's peak and its source, from what the samplers saw and
	// how the target ended (see Process.Peak).
	peak(p *Process, sum sample.Summary, ex Exit) (int64, result.PeakSource)
	// describe says in a run what is particular to the kind.
	describe(p *Process, run *result.Run, ex Exit)
	// oomKills is the run's OOM kills from what the sampler read and the
	// end's reading (see Process.OOMKills).
	oomKills(sum sample.Summary, ex Exit) int64
	// lingers: connections to it can stay open with nothing behind them
	// once it is gone (see Process.Abort).
	lingers() bool
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

// Start brings the target spec describes up and waits until it is
// healthy: starts its command, runs its container, or (spec.Attached)
// finds the running server and resets what the kernel lets it reset of its
// peak.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if spec.StopGrace <= 0 {
		spec.StopGrace = 5 * time.Second
	}
	if spec.HealthKey == "" {
		spec.HealthKey = "health"
	}
	p := &Process{spec: spec, Port: spec.Port, done: make(chan struct{})}
	switch {
	case spec.Attached != nil:
		p.kind, p.Port = &attached{spec: *spec.Attached}, spec.Attached.Port
	case spec.Container != nil:
		p.kind = &container{spec: *spec.Container}
	default:
		p.kind = &started{}
	}
	if p.Port == 0 {
		var err error
		if p.Port, err = freePort(spec.Host); err != nil {
			return nil, &StartError{Name: spec.Name, Err: err}
		}
	}
	p.Addr = net.JoinHostPort(spec.Host, strconv.Itoa(p.Port))
	if err := p.kind.up(p); err != nil {
		p.cleanup()
		return nil, &StartError{Name: spec.Name, Err: err, Tail: p.LogTail(2048)}
	}
	if err := p.waitHealthy(ctx); err != nil {
		_, _ = p.Stop()
		return nil, &StartError{Name: spec.Name, Err: err, Tail: p.LogTail(2048)}
	}
	if err := p.kind.ready(p); err != nil {
		_, _ = p.Stop()
		return nil, &StartError{Name: spec.Name, Err: err}
	}
	return p, nil
}

// openLog creates the target's log file, and its cgroup where one is
// made: every target gets one when the host can make one, capped or not.
func (p *Process) openLog() error {
	s := p.spec
	p.LogPath = fmt.Sprintf("%s/%s-%s.log", s.LogDir, s.Name, s.Label)
	var err error
	if p.log, err = os.Create(p.LogPath); err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	if s.Cgroups.Available() || s.MemoryLimit > 0 || s.Container != nil {
		if p.Cgroup, p.CgroupErr = s.Cgroups.New(s.Name+"-"+s.Label, s.MemoryLimit); p.CgroupErr != nil {
			p.Cgroup = nil // the caller falls back to a watchdog
		}
	}
	return nil
}

// argv is the target's command with its port filled in, and the
// environment it adds.
func (p *Process) argv() (argv, env []string) {
	portStr := strconv.Itoa(p.Port)
	for _, a := range p.spec.Command {
		argv = append(argv, strings.ReplaceAll(a, "{port}", portStr))
	}
	for k, v := range p.spec.Env {
		env = append(env, k+"="+strings.ReplaceAll(v, "{port}", portStr))
	}
	return argv, env
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
	// Any 2xx is up (a ping that answers 204 No Content is common). One
	// other answer for this long means the path is wrong, not that the
	// server is still starting: say so now, not at the timeout.
	const settled = 3 * time.Second
	var status int
	var since time.Time
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				p.HealthStatus = resp.StatusCode
				return nil
			}
			if resp.StatusCode != status {
				status, since = resp.StatusCode, time.Now()
			} else if time.Since(since) >= settled {
				hint := ""
				if status == http.StatusUnauthorized || status == http.StatusForbidden {
					hint = " (the server wants credentials there: give a health path it answers without them)"
				}
				return fmt.Errorf("GET %s → %d for %v; set %s to a path your server answers with a 2xx%s", url, status, settled, p.spec.HealthKey, hint)
			}
		}
		select {
		case <-p.done:
			return errors.New(p.kind.gone(p))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %v", url, p.spec.HealthTimeout)
		}
	}
}

// holdsPort makes sure the process answering on the target's port is the
// target: the free port was found by listening and closing, so another
// server could have taken it since, answered the health check, and be
// flooded in the target's place. Some process of the target (its cgroup,
// its process group, or the main process's descendants) must hold the
// listening socket.
func (p *Process) holdsPort() error {
	listeners, err := proc.Listeners(p.PID(), p.Port)
	if err != nil {
		return fmt.Errorf("check who listens on port %d: %w", p.Port, err)
	}
	// Its process group (a started target leads its own), or for an
	// attached one the process and its descendants (a process started in
	// the background of a script leads no group).
	members := append(proc.Group(p.PID()), p.PID())
	members = append(members, proc.Descendants(p.PID())...)
	if p.Cgroup != nil {
		if pids, err := p.Cgroup.PIDs(); err == nil {
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

// PID is the target's main process: the leader of the process group the
// harness started, a container's first process (the engine's program is
// the harness's child), or the attached server's.
func (p *Process) PID() int { return p.kind.pid(p) }

// Done is closed when the target has exited (and, if the harness started
// it, been reaped).
func (p *Process) Done() <-chan struct{} { return p.done }

// Kill ends the target now, as the memory watchdog does at the limit:
// SIGKILL to the process group the harness started (an attached server is
// not the harness's to kill).
func (p *Process) Kill() { p.kind.kill(p) }

// Stop ends what the harness owns of the target — SIGTERM to its group,
// StopGrace to exit, then SIGKILL to the group; an attached server is left
// running — removes its cgroup and reports how it ended: the first call's
// report, however often it is called.
func (p *Process) Stop() (Exit, error) {
	p.stopOnce.Do(func() {
		p.exit = p.kind.end(p)
		p.stopErr = p.cleanup()
	})
	return p.exit, p.stopErr
}

// readCgroup adds the cgroup's peak and OOM kills to an exit, before the
// cgroup is removed.
func (p *Process) readCgroup(ex *Exit) {
	if p.Cgroup != nil {
		ex.CgroupPeak, _ = p.Cgroup.Peak()
		ex.OOMKills, _ = p.Cgroup.OOMKills()
	}
}

func (p *Process) cleanup() error {
	errs := []error{p.kind.cleanup(p)}
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
