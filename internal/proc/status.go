package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
)

// Status holds the memory lines of /proc/PID/status, in bytes.
type Status struct {
	RSS int64 // VmRSS: resident now
	HWM int64 // VmHWM: the kernel's peak resident set, never missed by sampling
}

// ReadStatus reads /proc/PID/status. gopsutil's MemoryInfo leaves HWM at
// zero on Linux, which is why this reads the file itself.
func ReadStatus(pid int) (Status, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Status{}, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (Status, error) {
	var st Status
	var seen int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(key) {
		case "VmRSS":
			dst = &st.RSS
		case "VmHWM":
			dst = &st.HWM
		default:
			continue
		}
		f := bytes.Fields(val)
		if len(f) != 2 || string(f[1]) != "kB" {
			return Status{}, fmt.Errorf("status %s: unexpected value %q", key, val)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return Status{}, fmt.Errorf("status %s: bad size %q", key, f[0])
		}
		*dst = kb << 10
		seen++
	}
	if seen != 2 {
		// Kernel threads and zombies have no Vm lines.
		return Status{}, fmt.Errorf("status has no VmRSS/VmHWM (a zombie or kernel thread?)")
	}
	return st, sc.Err()
}

// ReadPSS is the proportional set size of pid in bytes (Pss in
// /proc/PID/smaps_rollup): its private pages plus its share of pages it
// shares with others, so the PSS of a process tree sums to its real
// memory, where summed RSS counts a shared page once per process.
func ReadPSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, fmt.Errorf("read smaps_rollup of pid %d: %w", pid, err)
	}
	return parsePSS(b)
}

func parsePSS(b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(key) != "Pss" {
			continue
		}
		f := bytes.Fields(val)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("smaps_rollup Pss: unexpected value %q", val)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return 0, fmt.Errorf("smaps_rollup Pss: bad size %q", f[0])
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("smaps_rollup has no Pss line")
}

// RSSReader reads processes' resident sets from /proc/PID/statm through
// files it keeps open: one pread a process a sample, where opening,
// reading and closing status costs three syscalls and a longer file (what
// sampling a 100-process tree every 20 ms spends its CPU on). A file kept
// open names its process, not its PID: once that process is gone its reads
// fail, even if the PID is reused. Not safe for concurrent use.
type RSSReader struct {
	fds map[int]int
	buf [128]byte
}

// RSS is pid's resident set in bytes now.
func (r *RSSReader) RSS(pid int) (int64, error) {
	fd, ok := r.fds[pid]
	if !ok {
		var err error
		if fd, err = syscall.Open(fmt.Sprintf("/proc/%d/statm", pid), syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err != nil {
			return 0, fmt.Errorf("open statm of pid %d: %w", pid, err)
		}
		if r.fds == nil {
			r.fds = map[int]int{}
		}
		r.fds[pid] = fd
	}
	n, err := syscall.Pread(fd, r.buf[:], 0)
	if err != nil || n <= 0 {
		r.drop(pid)
		return 0, fmt.Errorf("read statm of pid %d: %w", pid, cmpErr(err))
	}
	pages, err := ParseStatm(r.buf[:n])
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}

func cmpErr(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// Keep closes the files of every process not in pids (gone from the tree).
func (r *RSSReader) Keep(pids map[int]bool) {
	for pid := range r.fds {
		if !pids[pid] {
			r.drop(pid)
		}
	}
}

// Close closes every file.
func (r *RSSReader) Close() { r.Keep(nil) }

func (r *RSSReader) drop(pid int) {
	if fd, ok := r.fds[pid]; ok {
		syscall.Close(fd)
		delete(r.fds, pid)
	}
}

// ParseStatm reads the resident pages, statm's second field.
func ParseStatm(b []byte) (int64, error) {
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("statm: want at least 2 fields, got %q", clipped(b))
	}
	n, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil || n < 0 || n > 1<<40 {
		return 0, fmt.Errorf("statm: bad resident pages %q", clipped(f[1]))
	}
	return n, nil
}

func clipped(b []byte) []byte { return b[:min(len(b), 64)] }
