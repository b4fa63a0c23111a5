package proc

import (
	"fmt"
	"os"
	"path/filepath"
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

// Runtime names the interpreter pid runs, from its executable
// (/proc/PID/exe): "python", "ruby" or "node"; "" for anything else (a Go
// or other native server) or a process gone.
func Runtime(pid int) string {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return ""
	}
	base := filepath.Base(exe)
	for _, rt := range []string{"python", "ruby", "node"} {
		if strings.HasPrefix(base, rt) {
			return rt
		}
	}
	return ""
}

// Exists says whether process pid exists (a zombie too).
func Exists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}
