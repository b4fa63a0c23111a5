package launch_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/cgroup"
)

// The cgroup's files are read through descriptors kept open: each reading
// is the kernel's now (its members, its anonymous memory), and Remove
// leaves no descriptor into the removed cgroup.
func TestCgroupReadsAreFresh(t *testing.T) {
	t.Parallel()
	if !cgroups.Available() {
		t.Skip("no cgroup can be made here: " + cgroups.Why())
	}
	cg, err := cgroups.New("fresh", 512<<20)
	if err != nil {
		t.Fatal(err)
	}
	start := func(script string) *exec.Cmd {
		argv := cg.Wrap([]string{"/bin/sh", "-c", script})
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
		return cmd
	}
	members := func(want int) []int {
		t.Helper()
		var pids []int
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if pids, _ = cg.PIDs(); len(pids) >= want {
				return pids
			}
		}
		t.Fatalf("the cgroup holds %v, want %d processes", pids, want)
		return nil
	}
	first := start("exec sleep 30")
	members(1)
	anon, err := cg.Anon()
	if err != nil {
		t.Fatal(err)
	}
	// A shell holding 64 MB in a variable: anonymous memory the kept
	// memory.stat must show.
	second := start(`x=$(head -c 64000000 /dev/zero | tr '\0' a); echo ready; exec sleep 30`)
	if pids := members(2); !slices.Contains(pids, first.Process.Pid) || !slices.Contains(pids, second.Process.Pid) {
		t.Errorf("members %v, want %d and %d", pids, first.Process.Pid, second.Process.Pid)
	}
	var grown int64
	for deadline := time.Now().Add(20 * time.Second); grown < anon+32<<20 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		grown, _ = cg.Anon()
	}
	if grown < anon+32<<20 {
		t.Errorf("anonymous memory read %d, then %d after a process took 64 MB: a stale reading", anon, grown)
	}
	if u, err := cg.Usage(); err != nil || u < grown {
		t.Errorf("charge %d (%v) below the anonymous part %d", u, err, grown)
	}
	_ = syscall.Kill(-first.Process.Pid, syscall.SIGKILL)
	_ = syscall.Kill(-second.Process.Pid, syscall.SIGKILL)
	_, _ = first.Process.Wait()
	_, _ = second.Process.Wait()
	dir := cg.Dir
	if err := cg.Remove(); err != nil {
		t.Fatal(err)
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if to, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(to, dir) {
			t.Errorf("descriptor %s still open on %s after Remove", fd.Name(), to)
		}
	}
}

// On v1 each cgroup counts its own OOM kills: the count sums the cgroups
// below (a container engine's), which may go with their container, so the
// sampler must read it as it goes; v2 counts the subtree in one file.
func TestOOMKillsBelow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(path, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "alone/memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
	alone := &cgroup.Group{Dir: filepath.Join(dir, "alone")}
	if n, err := alone.OOMKills(); n != 1 || err != nil || alone.OOMKillsMayVanish() {
		t.Errorf("a v1 cgroup alone: %d kills (%v), may vanish %v; want 1, false", n, err, alone.OOMKillsMayVanish())
	}
	write(filepath.Join(dir, "parent/memory.oom_control"), "oom_kill 1\n")
	write(filepath.Join(dir, "parent/docker/abc/memory.oom_control"), "under_oom 0\noom_kill 2\n")
	parent := &cgroup.Group{Dir: filepath.Join(dir, "parent")}
	if n, err := parent.OOMKills(); n != 3 || err != nil || !parent.OOMKillsMayVanish() {
		t.Errorf("a v1 cgroup with a container's below: %d kills (%v), may vanish %v; want 3, true", n, err, parent.OOMKillsMayVanish())
	}
	write(filepath.Join(dir, "v2/memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 4\n")
	write(filepath.Join(dir, "v2/sub/memory.events"), "oom_kill 4\n")
	v2 := &cgroup.Group{Dir: filepath.Join(dir, "v2"), V2: true}
	if n, err := v2.OOMKills(); n != 4 || err != nil || v2.OOMKillsMayVanish() {
		t.Errorf("v2: %d kills (%v), may vanish %v; want 4 (the subtree's, once), false", n, err, v2.OOMKillsMayVanish())
	}
}
