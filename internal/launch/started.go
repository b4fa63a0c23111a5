package launch

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/floodharness/harness/internal/pgroup"
	"github.com/floodharness/harness/internal/proc"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/sample"
)

// started is a target the harness runs as a command, in its own process
// group and (where one can be made) its own cgroup. It is measured as its
// processes' memory: one process's RSS, a tree's cgroup anon or PSS.
type started struct {
	cmd *exec.Cmd
	// launcherHWM is the harness's own peak RSS just after the start: the
	// most the child's ru_maxrss can have inherited from it.
	launcherHWM int64

	mu      sync.Mutex
	stopped bool // the harness sent the signal that ended it
}

func (k *started) up(p *Process) error {
	if err := p.openLog(); err != nil {
		return err
	}
	argv, env := p.argv()
	if p.Cgroup != nil {
		// The shell below would report a missing program as its own failure.
		if _, err := exec.LookPath(argv[0]); err != nil {
			return fmt.Errorf("run %q: %w", argv[0], err)
		}
		argv, env = preloadLast(argv, env)
		argv = p.Cgroup.Wrap(argv)
	}
	return k.run(p, argv, env, "")
}

// preloadLast keeps a library the server's environment preloads
// (LD_PRELOAD: heap: auto's heaptrack, or the user's own) out of the
// programs that put it in its cgroup and into the server alone: they are
// run first, and heaptrack, loaded into the first program, takes its
// trace file and clears LD_PRELOAD before the server is exec'd.
func preloadLast(argv, env []string) ([]string, []string) {
	i := slices.IndexFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "LD_PRELOAD=") })
	if i < 0 {
		return argv, env
	}
	env = slices.Clone(env)
	env[i] = "FLOOD_PRELOAD=" + strings.TrimPrefix(env[i], "LD_PRELOAD=")
	rearm := []string{"/bin/sh", "-c", `export LD_PRELOAD="$FLOOD_PRELOAD"; unset FLOOD_PRELOAD; exec "$@"`, "sh"}
	return append(rearm, argv...), env
}

// run starts argv as the target's one child, its output in the target's
// log, in its cgroup where it has one.
func (k *started) run(p *Process, argv, env []string, dir string) error {
	cmd := pgroup.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr, cmd.Dir = p.log, p.log, dir
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %q: %w", argv[0], err)
	}
	if st, err := proc.ReadStatus(os.Getpid()); err == nil {
		k.launcherHWM = st.HWM
	}
	k.cmd = cmd
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	if p.Cgroup != nil {
		if err := p.Cgroup.Attach(cmd.Process.Pid, p.done); err != nil {
			pgroup.Signal(cmd, syscall.SIGKILL)
			<-p.done
			return err
		}
	}
	return nil
}

func (k *started) ready(p *Process) error { return p.holdsPort() }

func (k *started) pid(*Process) int { return k.cmd.Process.Pid }

func (k *started) gone(*Process) string {
	st := k.cmd.ProcessState
	if st == nil {
		return "exited before it was healthy (no exit status)"
	}
	return fmt.Sprintf("exited before it was healthy (%s)", st)
}

func (k *started) kill(p *Process) {
	k.markStopped(p)
	k.signalGroup(p, syscall.SIGKILL)
}

// markStopped records that the harness ends the process (unless it is
// dead already: whatever ended it was not the harness).
func (k *started) markStopped(p *Process) {
	k.mu.Lock()
	defer k.mu.Unlock()
	select {
	case <-p.done:
	default:
		k.stopped = true
	}
}

func (k *started) signalGroup(p *Process, sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		pgroup.Signal(k.cmd, sig)
	}
}

func (k *started) end(p *Process) Exit {
	if k.cmd != nil {
		k.markStopped(p)
		k.signalGroup(p, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(p.spec.StopGrace):
			k.signalGroup(p, syscall.SIGKILL)
			<-p.done
		}
		// Children that outlived the leader are still in the group.
		pgroup.Signal(k.cmd, syscall.SIGKILL)
	}
	ex := k.exit()
	p.readCgroup(&ex)
	return ex
}

// exit is how the reaped process ended, with its ru_maxrss where that is
// its own.
func (k *started) exit() Exit {
	if k.cmd == nil || k.cmd.ProcessState == nil {
		return Exit{}
	}
	st := k.cmd.ProcessState
	k.mu.Lock()
	ex := Exit{Exit: result.Exit{Code: st.ExitCode()}, Stopped: k.stopped}
	k.mu.Unlock()
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		ex.Signal = signalName(ws.Signal())
	}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok && ru.Maxrss<<10 > k.launcherHWM {
		ex.MaxRSS = ru.Maxrss << 10 // KiB on Linux
	}
	return ex
}

func (k *started) cleanup(*Process) error { return nil }

func (k *started) byCgroup(*Process) bool { return false }

// peak: one process's VmHWM (read while it lived), or if it died on its
// own the larger of that and ru_maxrss (read at reaping, so it survives an
// OOM kill) — the kernel's own peak. A process tree: its cgroup's
// anonymous memory when it has a cgroup, else the sum of its processes'
// PSS, both sampled — never the sum of RSS, which counts a copy-on-write
// page once per process.
func (k *started) peak(_ *Process, sum sample.Summary, ex Exit) (int64, result.PeakSource) {
	return processPeak(sum, ex)
}

func processPeak(sum sample.Summary, ex Exit) (int64, result.PeakSource) {
	switch {
	case sum.Peak.Procs <= 1 && ex.Stopped:
		// Alive to the end: the VmHWM the sampler read is the peak. Its
		// ru_maxrss can hold the harness's own memory at the fork, which
		// the harness's VmHWM read after the start may not show (measured in
		// CI: a streamed server whose VmHWM never passed 11.5 MiB reported
		// 22.5, the harness's own peak from the level before).
		return sum.HWM, result.PeakVmHWM
	case sum.Peak.Procs <= 1:
		return max(sum.HWM, ex.MaxRSS), result.PeakVmHWM
	case sum.Anon > 0:
		return sum.Anon, result.PeakCgroupAnon
	default:
		return sum.Memory, result.PeakPSS
	}
}

func (k *started) describe(*Process, *result.Run, Exit) {}

// oomKills: the larger of the sampler's and the end's count (a container's
// own cgroup, and its count on v1, leave with the container).
func (k *started) oomKills(sum sample.Summary, ex Exit) int64 { return max(ex.OOMKills, sum.OOMKills) }

func (k *started) lingers() bool { return false }
