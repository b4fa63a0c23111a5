package proc

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
)

// Host is what a run records of the machine it ran on.
type Host struct {
	Kernel   string // the kernel's release, as uname -r says it
	MemBytes int64  // physical memory
	CPUModel string // the first CPU's model name
}

// ReadHost reads the host's facts through gopsutil, whose API is the right
// tool for them: read once a run, never on the sampling path (a sample
// reads kept-open files with raw preads, 126–150 µs for a 100-process
// tree; gopsutil opens and parses a file a call). A fact it cannot read
// is left zero.
func ReadHost() Host {
	var h Host
	if v, err := host.KernelVersion(); err == nil {
		h.Kernel = v
	}
	if v, err := mem.VirtualMemory(); err == nil {
		h.MemBytes = int64(v.Total)
	}
	if infos, err := cpu.Info(); err == nil && len(infos) > 0 {
		h.CPUModel = strings.TrimSpace(infos[0].ModelName)
	}
	return h
}

// Sysctl reads the kernel setting name ("net.core.somaxconn") from
// /proc/sys, its fields as written.
func Sysctl(name string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return nil, fmt.Errorf("%s is empty", name)
	}
	return f, nil
}

// SysctlUint reads a kernel setting of one unsigned number.
func SysctlUint(name string) (uint64, error) {
	f, err := Sysctl(name)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(f[0], 10, 64)
}

// Runtime names what pid runs, from its executable (/proc/PID/exe):
// "python", "ruby" or "node" for those interpreters, "go" for a Go
// program (its build information), "native" for any other executable
// (C, C++, Rust); "" for a shell or another wrapper (what it runs is not
// known from it) or a process gone.
func Runtime(pid int) string {
	exe := "/proc/" + strconv.Itoa(pid) + "/exe"
	path, err := os.Readlink(exe)
	if err != nil {
		return ""
	}
	base := filepath.Base(strings.TrimSuffix(path, " (deleted)"))
	for _, rt := range []string{"python", "ruby", "node"} {
		if strings.HasPrefix(base, rt) {
			return rt
		}
	}
	if slices.Contains(wrappers, base) {
		return ""
	}
	if _, err := buildinfo.ReadFile(exe); err == nil {
		return "go"
	}
	return "native"
}

// wrappers run another program: a target started through one is not
// known by its executable.
var wrappers = []string{"sh", "bash", "dash", "zsh", "busybox", "env", "timeout", "tini", "dumb-init", "setsid", "nohup", "stdbuf", "nice", "taskset", "chrt", "systemd-run"}

// Cmdline is process pid's command line, its arguments as it was
// started; nil for a process gone.
func Cmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// Exists says whether process pid exists (a zombie too).
func Exists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}
