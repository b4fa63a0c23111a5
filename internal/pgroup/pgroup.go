// Package pgroup is how the harness starts every process it owns (a
// target, k6, a probe): in a process group of its own, so that stopping it
// reaches every child it started (kill -PGID), and sent SIGKILL by the
// kernel if the harness dies without stopping it. Nothing else in the
// harness sets those attributes or signals a group.
package pgroup

import (
	"os/exec"
	"syscall"
)

// Command prepares name with args to run in a process group of its own,
// with the parent-death signal set.
func Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Signal sends sig to the process group cmd leads (a started Command's):
// only the group this harness made, never a process by name.
func Signal(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, sig)
	}
}
