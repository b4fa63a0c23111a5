package launch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// Attach finds a running server, checks that it answers health and holds
// its port, and resets what the kernel lets it reset of its peak (see
// Process.Reset). Stop never signals it.
func Attach(ctx context.Context, spec Spec, a AttachSpec) (*Process, error) {
	if spec.HealthKey == "" {
		spec.HealthKey = "health"
	}
	spec.Attached = &a
	p := &Process{spec: spec, Port: a.Port, Addr: net.JoinHostPort(spec.Host, strconv.Itoa(a.Port)), done: make(chan struct{}), attached: true}
	fail := func(err error) (*Process, error) {
		p.stopWatch()
		return nil, &StartError{Name: spec.Name, Err: err}
	}
	var err error
	switch {
	case a.PID != 0:
		p.mainPID = a.PID
	case a.PIDFile != "":
		b, rerr := os.ReadFile(a.PIDFile)
		if rerr != nil {
			return fail(fmt.Errorf("attach: %w", rerr))
		}
		if p.mainPID, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil || p.mainPID <= 0 {
			return fail(fmt.Errorf("attach: %s holds %q, not a PID", a.PIDFile, strings.TrimSpace(string(b))))
		}
	case a.Container != "":
		if p.mainPID, err = a.Engine.initPID(a.Container); err != nil {
			return fail(fmt.Errorf("attach: %w", err))
		}
		if p.Cgroup, err = cgroupOf(p.mainPID); err != nil {
			return fail(fmt.Errorf("attach: container %s: %w", a.Container, err))
		}
	case a.Cgroup != "":
		p.Cgroup = &Cgroup{Dir: filepath.Clean(a.Cgroup), V2: fileExists(filepath.Join(a.Cgroup, "cgroup.controllers")), external: true}
		pids, perr := p.Cgroup.PIDs()
		if perr != nil || len(pids) == 0 {
			return fail(fmt.Errorf("attach: cgroup %s has no process (%v)", a.Cgroup, perr))
		}
		p.mainPID = pids[0]
	}
	if err := syscall.Kill(p.mainPID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return fail(fmt.Errorf("attach: process %d: %w", p.mainPID, err))
	}
	p.watchAlive()
	if err := p.waitHealthy(ctx); err != nil {
		return fail(err)
	}
	if err := p.ownsPort(); err != nil {
		return fail(err)
	}
	if p.Cgroup != nil {
		p.oomBase, _ = p.Cgroup.OOMKills()
	}
	p.Reset = p.resetPeak()
	return p, nil
}

// cgroupOf finds the memory cgroup directory pid is in (v2, or v1's memory
// hierarchy), under /sys/fs/cgroup.
func cgroupOf(pid int) (*Cgroup, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var v1, v2 string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case strings.Contains(","+parts[1]+",", ",memory,"):
			v1 = parts[2]
		}
	}
	if v1 != "" {
		return &Cgroup{Dir: filepath.Join("/sys/fs/cgroup/memory", v1), external: true}, nil
	}
	if v2 != "" && fileExists(filepath.Join("/sys/fs/cgroup", v2, "memory.current")) {
		return &Cgroup{Dir: filepath.Join("/sys/fs/cgroup", v2), V2: true, external: true}, nil
	}
	return nil, fmt.Errorf("process %d is in no memory cgroup", pid)
}

// resetPeak resets the kernel's peak of the target before a level: its
// cgroup's peak when it is named by a cgroup or a container, else each of
// its processes' VmHWM.
func (p *Process) resetPeak() PeakReset {
	if c := p.Cgroup; c != nil {
		if c.V2 {
			f, err := os.OpenFile(filepath.Join(c.Dir, "memory.peak"), os.O_RDWR, 0)
			if err == nil {
				if _, err = f.WriteString("reset\n"); err == nil {
					c.setPeakFile(f)
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
	for _, pid := range append([]int{p.mainPID}, descendants(p.mainPID)...) {
		if os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) != nil {
			reset = ResetNone
		}
	}
	return reset
}

// descendants lists pid's children, their children and so on.
func descendants(pid int) []int {
	var out []int
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, c)
			out = append(out, descendants(c)...)
		}
	}
	return out
}

// watchAlive closes done when the attached process is gone.
func (p *Process) watchAlive() {
	p.watchStop = make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.watchStop:
				return
			case <-t.C:
				if err := syscall.Kill(p.mainPID, 0); errors.Is(err, syscall.ESRCH) || isZombie(p.mainPID) {
					close(p.done)
					return
				}
			}
		}
	}()
}

func (p *Process) stopWatch() {
	if p.watchStop != nil {
		select {
		case <-p.watchStop:
		default:
			close(p.watchStop)
		}
	}
}

// attachedExit is how an attached level ended: the server lives (the
// harness stops nothing it did not start), or died during the level.
func (p *Process) attachedExit() Exit {
	var ex Exit
	select {
	case <-p.done:
		ex.Code = -1 // died, of what the harness cannot tell (not its child)
	default:
		ex.Stopped = true // alive: the level ended, not the server
	}
	p.stopWatch()
	if p.Cgroup != nil {
		ex.CgroupPeak, _ = p.Cgroup.Peak()
		if n, err := p.Cgroup.OOMKills(); err == nil {
			ex.OOMKills = n - p.oomBase
		}
		p.Cgroup.setPeakFile(nil)
	}
	return ex
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
