package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/proc"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/sample"
)

// AttachSpec names a server the harness did not start and will not stop:
// by PID, a PID file, a cgroup directory or a container, serving on Port.
type AttachSpec struct {
	PID       int
	PIDFile   string
	Cgroup    string // a cgroup directory, e.g. /sys/fs/cgroup/system.slice/app.service
	Container string
	Engine    Engine // for Container
	Port      int
}

// By names how the server was found, as results say it: pid, pid_file,
// cgroup or container.
func (a AttachSpec) By() string {
	switch {
	case a.PID != 0:
		return "pid"
	case a.PIDFile != "":
		return "pid_file"
	case a.Cgroup != "":
		return "cgroup"
	case a.Container != "":
		return "container"
	}
	return ""
}

// PeakReset says how an attached target's kernel peak was reset before a
// level: the harness cannot start it fresh, so the peak of a level is only
// that level's where the kernel lets the harness reset it.
type PeakReset string

const (
	// ResetClearRefs: VmHWM, by writing 5 to /proc/PID/clear_refs of each
	// of the target's processes.
	ResetClearRefs PeakReset = "clear_refs"
	// ResetMemoryPeak: the cgroup v2 memory.peak, by writing to it (Linux
	// 6.12+); the peak is then read from the same open file.
	ResetMemoryPeak PeakReset = "memory.peak"
	// ResetMaxUsage: the cgroup v1 memory.max_usage_in_bytes, by writing 0.
	ResetMaxUsage PeakReset = "max_usage_in_bytes"
	// ResetNone: nothing could be reset; the peak is the sampled one.
	ResetNone PeakReset = "none"
)

// attached is a server the harness did not start and will not stop,
// found by PID, a PID file, a cgroup directory or a container. Named by a
// cgroup or a container it is measured as its cgroup's charge, else as its
// processes' memory; its peak is a level's only where the kernel lets the
// harness reset it (Process.Reset).
type attached struct {
	spec      AttachSpec
	mainPID   int
	watchStop chan struct{} // ends watchAlive
	oomBase   int64         // the cgroup's OOM kills when attached
}

// up finds the server's process (and cgroup) and watches that it lives.
func (k *attached) up(p *Process) error {
	a := k.spec
	var err error
	switch {
	case a.PID != 0:
		k.mainPID = a.PID
	case a.PIDFile != "":
		b, rerr := os.ReadFile(a.PIDFile)
		if rerr != nil {
			return fmt.Errorf("attach: %w", rerr)
		}
		if k.mainPID, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil || k.mainPID <= 0 {
			return fmt.Errorf("attach: %s holds %q, not a PID", a.PIDFile, strings.TrimSpace(string(b)))
		}
	case a.Container != "":
		if k.mainPID, err = a.Engine.initPID(a.Container); err != nil {
			return fmt.Errorf("attach: %w", err)
		}
		if p.Cgroup, err = cgroup.Of(k.mainPID); err != nil {
			return fmt.Errorf("attach: container %s: %w", a.Container, err)
		}
	case a.Cgroup != "":
		p.Cgroup = cgroup.External(a.Cgroup)
		pids, perr := p.Cgroup.PIDs()
		if perr != nil || len(pids) == 0 {
			return fmt.Errorf("attach: cgroup %s has no process (%v)", a.Cgroup, perr)
		}
		k.mainPID = pids[0]
	}
	if err := syscall.Kill(k.mainPID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("attach: process %d: %w", k.mainPID, err)
	}
	k.watchAlive(p.done)
	return nil
}

// ready checks that the server holds its port, then resets its peak.
func (k *attached) ready(p *Process) error {
	var err error
	if c := k.spec.Container; c != "" {
		err = k.spec.Engine.publishes(c, 0, p.Addr)
	} else {
		err = p.holdsPort()
	}
	if err != nil {
		return err
	}
	if p.Cgroup != nil {
		k.oomBase, _ = p.Cgroup.OOMKills()
	}
	p.Reset = k.resetPeak(p.Cgroup)
	return nil
}

func (k *attached) pid(*Process) int { return k.mainPID }

func (k *attached) gone(*Process) string { return fmt.Sprintf("process %d is gone", k.mainPID) }

func (k *attached) kill(*Process) {} // not the harness's to kill

// end is how an attached level ended: the server lives (the harness stops
// nothing it did not start), or died during the level.
func (k *attached) end(p *Process) Exit {
	var ex Exit
	select {
	case <-p.done:
		ex.Code = -1 // died, of what the harness cannot tell (not its child)
	default:
		ex.Stopped = true // alive: the level ended, not the server
	}
	k.stopWatch()
	if p.Cgroup != nil {
		ex.CgroupPeak, _ = p.Cgroup.Peak()
		if n, err := p.Cgroup.OOMKills(); err == nil {
			ex.OOMKills = n - k.oomBase
		}
		p.Cgroup.SetPeakFile(nil)
	}
	return ex
}

func (k *attached) cleanup(*Process) error {
	k.stopWatch()
	return nil
}

func (k *attached) byCgroup(*Process) bool { return k.spec.Cgroup != "" || k.spec.Container != "" }

// oomKills: its cgroup counts kills from before the harness came; the
// end's reading, less the count at attach, is the level's.
func (k *attached) oomKills(_ sample.Summary, ex Exit) int64 { return ex.OOMKills }

func (k *attached) lingers() bool { return false }

// peak: the kernel's, reset before the level — its cgroup's peak charge
// when named by a cgroup or a container, else its VmHWM — or, where
// nothing could be reset, the highest sampled memory.
func (k *attached) peak(p *Process, sum sample.Summary, ex Exit) (int64, result.PeakSource) {
	switch {
	case p.Reset == ResetNone:
		return sum.Memory, result.PeakSampledMemory
	case k.byCgroup(p) && ex.CgroupPeak > 0:
		return ex.CgroupPeak, result.PeakCgroup
	}
	return processPeak(sum, ex)
}

func (k *attached) describe(p *Process, run *result.Run, _ Exit) {
	run.Attached = &result.Attached{By: k.spec.By(), PeakReset: string(p.Reset)}
}

// resetPeak resets the kernel's peak of the target before a level: its
// cgroup's peak when it is named by a cgroup or a container, else each of
// its processes' VmHWM.
func (k *attached) resetPeak(c *cgroup.Group) PeakReset {
	if c != nil {
		if c.V2 {
			f, err := os.OpenFile(filepath.Join(c.Dir, "memory.peak"), os.O_RDWR, 0)
			if err == nil {
				if _, err = f.WriteString("reset\n"); err == nil {
					c.SetPeakFile(f)
					return ResetMemoryPeak
				}
				f.Close()
			}
			return ResetNone
		}
		if os.WriteFile(filepath.Join(c.Dir, "memory.max_usage_in_bytes"), []byte("0"), 0) == nil {
			return ResetMaxUsage
		}
		return ResetNone
	}
	reset := ResetClearRefs
	for _, pid := range append([]int{k.mainPID}, proc.Descendants(k.mainPID)...) {
		if proc.ResetHWM(pid) != nil {
			reset = ResetNone
		}
	}
	return reset
}

// watchAlive closes done when the attached process is gone.
func (k *attached) watchAlive(done chan struct{}) {
	k.watchStop = make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-k.watchStop:
				return
			case <-t.C:
				if err := syscall.Kill(k.mainPID, 0); errors.Is(err, syscall.ESRCH) || proc.Zombie(k.mainPID) {
					close(done)
					return
				}
			}
		}
	}()
}

func (k *attached) stopWatch() {
	if k.watchStop != nil {
		select {
		case <-k.watchStop:
		default:
			close(k.watchStop)
		}
	}
}
